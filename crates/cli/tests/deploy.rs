//! The files in `deploy/` checked against the real thing: every Kubernetes manifest parses and
//! names real objects, probes hit routes a real `tinct serve` answers, every `TINCT_*` variable is
//! one `tinct config` knows and accepts, container arguments are flags of the real `tinct serve`,
//! the nginx config passes `nginx -t` and proxies a real instance, and the Dockerfile ships the
//! binary it builds.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde::Deserialize;
use serde_json::{Value, json};
use tinct_testkit::{TinctServer, free_port, post_command, tinct_command};

const BIN: &str = env!("CARGO_BIN_EXE_tinct");

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// Every document of every `deploy/k8s/*.yaml`, with the file it came from.
fn manifests() -> Vec<(String, Value)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(deploy_dir().join("k8s"))
        .expect("deploy/k8s")
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let mut docs = Vec::new();
    for file in files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            name.ends_with(".yaml"),
            "{name}: only .yaml files belong in deploy/k8s"
        );
        let text = read(&file);
        for document in serde_norway::Deserializer::from_str(&text) {
            let value = Value::deserialize(document)
                .unwrap_or_else(|e| panic!("{name} is not valid YAML: {e}"));
            if !value.is_null() {
                docs.push((name.clone(), value));
            }
        }
    }
    assert!(docs.len() >= 8, "expected the manifests, found {docs:#?}");
    docs
}

fn of_kind<'a>(docs: &'a [(String, Value)], kind: &str) -> Vec<&'a Value> {
    docs.iter()
        .map(|(_, d)| d)
        .filter(|d| d["kind"] == kind)
        .collect()
}

fn name(doc: &Value) -> &str {
    doc["metadata"]["name"].as_str().unwrap()
}

/// The containers of every Deployment, with the Deployment.
fn containers(docs: &[(String, Value)]) -> Vec<(&Value, &Value)> {
    of_kind(docs, "Deployment")
        .into_iter()
        .flat_map(|d| {
            d["spec"]["template"]["spec"]["containers"]
                .as_array()
                .expect("containers")
                .iter()
                .map(move |c| (d, c))
        })
        .collect()
}

/// The real binary's `tinct config` (defaults plus `env`), run in an empty directory.
fn tinct_config(env: &[(String, String)]) -> Result<Value, String> {
    let dir = tempfile::tempdir().unwrap();
    let out = tinct_command(Path::new(BIN), &dir.path().join("data"))
        .arg("config")
        .current_dir(dir.path())
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("run tinct config");
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(serde_json::from_slice(&out.stdout).expect("tinct config prints JSON"))
}

/// The configuration key of a `TINCT_*` variable.
fn key_of(var: &str) -> String {
    var.strip_prefix("TINCT_")
        .unwrap_or_else(|| panic!("{var} is not a TINCT_ variable"))
        .to_lowercase()
}

#[test]
fn every_manifest_parses_and_names_a_known_kind() {
    let known: BTreeMap<&str, &str> = [
        ("Deployment", "apps/v1"),
        ("Service", "v1"),
        ("ConfigMap", "v1"),
        ("HorizontalPodAutoscaler", "autoscaling/v2"),
        ("PodDisruptionBudget", "policy/v1"),
        ("ScaledObject", "keda.sh/v1alpha1"),
        ("Kustomization", "kustomize.config.k8s.io/v1beta1"),
    ]
    .into();
    let docs = manifests();
    let mut seen = BTreeSet::new();
    for (file, doc) in &docs {
        let kind = doc["kind"]
            .as_str()
            .unwrap_or_else(|| panic!("{file}: no kind"));
        let api = doc["apiVersion"]
            .as_str()
            .unwrap_or_else(|| panic!("{file}: {kind} has no apiVersion"));
        let name = doc["metadata"]["name"]
            .as_str()
            .unwrap_or_else(|| panic!("{file}: {kind} has no metadata.name"));
        assert_eq!(known.get(kind), Some(&api), "{file}: {kind} {name}");
        assert!(
            seen.insert((kind.to_owned(), name.to_owned())),
            "{file}: {kind} {name} twice"
        );
    }
    // The kustomization lists every manifest that exists.
    let kustomization = of_kind(&docs, "Kustomization")[0];
    let listed: BTreeSet<String> = kustomization["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_owned())
        .collect();
    let files: BTreeSet<String> = docs
        .iter()
        .map(|(f, _)| f.clone())
        .filter(|f| f != "kustomization.yaml")
        .collect();
    assert_eq!(listed, files);
}

#[test]
fn services_budgets_and_autoscalers_point_at_real_deployments() {
    let docs = manifests();
    let deployments = of_kind(&docs, "Deployment");
    let names: Vec<&str> = deployments.iter().map(|d| name(d)).collect();
    assert_eq!(names, ["tinct-api", "tinct-mcp", "tinct-worker"]);
    for d in &deployments {
        let selector = &d["spec"]["selector"]["matchLabels"];
        assert!(selector.as_object().is_some_and(|s| !s.is_empty()));
        assert_eq!(
            &d["spec"]["template"]["metadata"]["labels"],
            selector,
            "{}: the selector must match its own pods",
            name(d)
        );
        // A rolling restart never goes below the wanted number of ready pods.
        assert_eq!(d["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"], 0);
    }
    let selects = |selector: &Value| -> Vec<&str> {
        deployments
            .iter()
            .filter(|d| {
                let labels = &d["spec"]["template"]["metadata"]["labels"];
                selector
                    .as_object()
                    .unwrap()
                    .iter()
                    .all(|(k, v)| &labels[k] == v)
            })
            .map(|d| name(d))
            .collect()
    };
    for service in of_kind(&docs, "Service") {
        assert_eq!(selects(&service["spec"]["selector"]), [name(service)]);
        for port in service["spec"]["ports"].as_array().unwrap() {
            assert_eq!(port["targetPort"], "http", "{}", name(service));
        }
    }
    for budget in of_kind(&docs, "PodDisruptionBudget") {
        assert_eq!(
            selects(&budget["spec"]["selector"]["matchLabels"]),
            [name(budget)]
        );
    }
    for hpa in of_kind(&docs, "HorizontalPodAutoscaler") {
        let target = &hpa["spec"]["scaleTargetRef"];
        assert_eq!(target["kind"], "Deployment");
        assert!(names.contains(&target["name"].as_str().unwrap()));
        let metrics = hpa["spec"]["metrics"].as_array().unwrap();
        assert!(metrics.iter().any(|m| m["resource"]["name"] == "cpu"));
        assert!(
            metrics
                .iter()
                .any(|m| m["pods"]["metric"]["name"] == "tinct_commands_per_second")
        );
    }
    // Workers scale on queue depth.
    let keda = of_kind(&docs, "ScaledObject");
    assert_eq!(keda[0]["spec"]["scaleTargetRef"]["name"], "tinct-worker");
    assert!(names.contains(&"tinct-worker"));
    let query = keda[0]["spec"]["triggers"][0]["metadata"]["query"]
        .as_str()
        .unwrap();
    assert!(query.contains("tinct_queue_depth"), "{query}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_and_the_autoscaling_metric_are_what_tinct_serves() {
    let docs = manifests();
    let server = TinctServer::start(Path::new(BIN));
    let mut probed = BTreeSet::new();
    for (deployment, container) in containers(&docs) {
        let ports: Vec<&str> = container["ports"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        for probe in ["startupProbe", "livenessProbe", "readinessProbe"] {
            let get = &container[probe]["httpGet"];
            let path = get["path"]
                .as_str()
                .unwrap_or_else(|| panic!("{}: no {probe}", name(deployment)));
            assert!(ports.contains(&get["port"].as_str().unwrap()));
            probed.insert((probe, path.to_owned()));
        }
    }
    let paths: BTreeSet<&str> = probed.iter().map(|(_, p)| p.as_str()).collect();
    assert!(probed.contains(&("readinessProbe", "/health/ready".to_owned())));
    assert!(probed.contains(&("livenessProbe", "/health/live".to_owned())));
    for path in paths {
        let status = reqwest::get(format!("{}{path}", server.url))
            .await
            .unwrap()
            .status();
        assert_eq!(status, 200, "{path} on a real tinct serve");
    }
    // The HPA's requests per second is the rate of this counter (deploy/README.md's adapter rule).
    let call = post_command(&server.url, "system.health", json!({})).await;
    assert_eq!(call["success"], true, "{call}");
    let scrape = reqwest::get(format!("{}/metrics", server.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(scrape.contains("\ntinct_commands_total{"), "{scrape}");
    let readme = read(&deploy_dir().join("README.md"));
    assert!(
        readme.contains("tinct_commands_total") && readme.contains("tinct_commands_per_second")
    );
}

/// Every variable a manifest or the image sets, with its value where it is a literal.
fn variables(docs: &[(String, Value)]) -> BTreeMap<String, Option<String>> {
    let mut vars = BTreeMap::new();
    for config in of_kind(docs, "ConfigMap") {
        for (k, v) in config["data"].as_object().unwrap() {
            vars.insert(k.clone(), Some(v.as_str().unwrap().to_owned()));
        }
    }
    for (_, container) in containers(docs) {
        for env in container["env"].as_array().unwrap() {
            let value = env["value"].as_str().map(str::to_owned);
            vars.insert(env["name"].as_str().unwrap().to_owned(), value);
        }
    }
    for (k, v) in dockerfile_env() {
        vars.insert(k, Some(v));
    }
    vars
}

#[test]
fn every_variable_is_tinct_configuration_with_a_value_it_accepts() {
    let docs = manifests();
    let defaults = tinct_config(&[]).expect("tinct config");
    let vars = variables(&docs);
    for var in vars.keys() {
        assert!(
            defaults.get(key_of(var)).is_some(),
            "{var} is not a tinct setting (tinct config lists: {defaults})"
        );
    }
    // The literal values, all at once and one role at a time, are accepted as they are.
    let literal: Vec<(String, String)> = vars
        .iter()
        .filter_map(|(k, v)| Some((k.clone(), v.clone()?)))
        .collect();
    let effective = tinct_config(&literal).unwrap_or_else(|e| panic!("{literal:?}: {e}"));
    assert_eq!(effective["auth"], "read-open");
    assert_eq!(effective["log_format"], "json");
    assert_eq!(effective["listen"], "0.0.0.0:8080");
    // Secrets are references, never literals.
    for secret in ["TINCT_DATABASE_URL", "TINCT_AUTH_SECRET"] {
        assert_eq!(
            vars.get(secret),
            Some(&None),
            "{secret} must come from a Secret"
        );
    }
    for (deployment, container) in containers(&docs) {
        for env in container["env"].as_array().unwrap() {
            if let Some(secret) = env["valueFrom"]["secretKeyRef"].as_object() {
                assert_eq!(secret["name"], "tinct-secrets", "{}", name(deployment));
            }
        }
    }
}

/// The flags of the real `tinct serve`, from its help.
fn serve_flags() -> BTreeSet<String> {
    let out = Command::new(BIN)
        .args(["serve", "--help"])
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter(|w| w.starts_with("--"))
        .map(|w| w.trim_end_matches([',', '.']).to_owned())
        .collect()
}

#[test]
fn container_arguments_are_flags_and_values_tinct_serve_accepts() {
    let docs = manifests();
    let flags = serve_flags();
    assert!(flags.contains("--surfaces"), "{flags:?}");
    let mut surfaces = BTreeMap::new();
    for (deployment, container) in containers(&docs) {
        let args: Vec<&str> = container["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        assert_eq!(args[0], "serve", "{}", name(deployment));
        let mut rest = args[1..].iter();
        while let Some(flag) = rest.next() {
            assert!(
                flags.contains(*flag),
                "tinct serve has no {flag}: {flags:?}"
            );
            let value = rest.next().expect("every flag here takes a value");
            // The same setting through its variable: `tinct config` validates and shows it.
            // `--role` sets the list `roles`.
            let setting = if *flag == "--role" {
                "roles"
            } else {
                &flag[2..]
            };
            let var = format!("TINCT_{}", setting.to_uppercase().replace('-', "_"));
            let shown = tinct_config(&[(var.clone(), value.to_string())])
                .unwrap_or_else(|e| panic!("{var}={value}: {e}"));
            let key = key_of(&var);
            match &shown[&key] {
                Value::Array(list) => assert_eq!(
                    list.iter().map(|v| v.as_str().unwrap()).collect::<Vec<_>>(),
                    value.split(',').collect::<Vec<_>>()
                ),
                other => assert_eq!(other, value),
            }
            if key == "surfaces" {
                surfaces.insert(name(deployment), value.to_string());
            }
        }
    }
    assert_eq!(surfaces["tinct-api"], "rest,ws,web");
    assert_eq!(surfaces["tinct-mcp"], "mcp");
}

#[test]
fn each_role_has_its_deadline_and_outlives_its_own_shutdown() {
    let docs = manifests();
    let shared = &of_kind(&docs, "ConfigMap")[0]["data"];
    for (deployment, container) in containers(&docs) {
        let setting = |var: &str| -> u64 {
            let own = container["env"]
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["name"] == var)
                .map(|e| &e["value"]);
            own.unwrap_or(&shared[var])
                .as_str()
                .unwrap_or_else(|| panic!("{}: no {var}", name(deployment)))
                .parse()
                .unwrap()
        };
        let drain = setting("TINCT_SHUTDOWN_DRAIN_SECS");
        let deadline = setting("TINCT_SHUTDOWN_TIMEOUT_SECS");
        let grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
            .as_u64()
            .unwrap();
        assert!(
            grace > drain + deadline,
            "{}: SIGKILL after {grace} s cuts a {drain} + {deadline} s shutdown",
            name(deployment)
        );
        match name(deployment) {
            "tinct-api" => assert_eq!(setting("TINCT_REQUEST_TIMEOUT_SECS"), 30),
            "tinct-mcp" => {
                assert_eq!(setting("TINCT_MCP_TIMEOUT_SECS"), 300);
                assert!(deadline >= 300, "an MCP call in flight may take 300 s");
            }
            "tinct-worker" => {
                assert!(setting("TINCT_WORKER_CONCURRENCY") >= 1);
                assert!(deadline >= 60, "running jobs get a minute to finish");
            }
            other => panic!("unexpected deployment {other}"),
        }
    }
}

/// Dockerfile instructions: continuation lines joined, comments and blank lines dropped.
fn dockerfile() -> Vec<(String, String)> {
    let text = read(&deploy_dir().join("Dockerfile"));
    let mut instructions = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if current.is_empty() && (trimmed.is_empty() || trimmed.starts_with('#')) {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(part) => {
                current.push_str(part);
                current.push(' ');
            }
            None => {
                current.push_str(trimmed);
                let (word, args) = current.split_once(' ').unwrap_or((&current, ""));
                instructions.push((word.to_owned(), args.trim().to_owned()));
                current.clear();
            }
        }
    }
    assert!(current.is_empty(), "the Dockerfile ends in a continuation");
    instructions
}

fn dockerfile_env() -> Vec<(String, String)> {
    dockerfile()
        .into_iter()
        .filter(|(i, _)| i == "ENV")
        .flat_map(|(_, args)| {
            args.split_whitespace()
                .map(|pair| {
                    let (k, v) = pair.split_once('=').expect("ENV key=value");
                    (k.to_owned(), v.to_owned())
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn the_dockerfile_ships_the_binary_it_builds() {
    const KNOWN: [&str; 17] = [
        "FROM",
        "RUN",
        "CMD",
        "LABEL",
        "EXPOSE",
        "ENV",
        "ADD",
        "COPY",
        "ENTRYPOINT",
        "VOLUME",
        "USER",
        "WORKDIR",
        "ARG",
        "ONBUILD",
        "STOPSIGNAL",
        "HEALTHCHECK",
        "SHELL",
    ];
    let instructions = dockerfile();
    let mut stages: Vec<String> = Vec::new();
    // What each stage's RUN lines say, to find where the built binary lands.
    let mut runs: BTreeMap<String, String> = BTreeMap::new();
    let mut shipped = None;
    for (instruction, args) in &instructions {
        assert!(
            KNOWN.contains(&instruction.as_str()),
            "unknown instruction {instruction}"
        );
        match instruction.as_str() {
            "FROM" => {
                let words: Vec<&str> = args.split_whitespace().collect();
                assert!(
                    words.len() == 3 && words[1].eq_ignore_ascii_case("AS"),
                    "name every stage: FROM {args}"
                );
                stages.push(words[2].to_owned());
            }
            "RUN" => {
                let stage = stages.last().expect("RUN before FROM").clone();
                runs.entry(stage).or_default().push_str(args);
            }
            "COPY" => {
                let words: Vec<&str> = args.split_whitespace().collect();
                if let Some(from) = words[0].strip_prefix("--from=") {
                    let earlier = &stages[..stages.len() - 1];
                    assert!(earlier.iter().any(|s| s == from), "COPY --from={from}");
                    let sources: Vec<&str> = words
                        .iter()
                        .filter(|w| !w.starts_with("--"))
                        .copied()
                        .collect();
                    if sources[1].ends_with("/bin/tinct") {
                        shipped = Some((from.to_owned(), sources[0], sources[1]));
                    }
                }
            }
            _ => {}
        }
    }
    let get = |name: &str| -> Vec<&String> {
        instructions
            .iter()
            .filter(|(i, _)| i == name)
            .map(|(_, a)| a)
            .collect()
    };
    let (stage, built_to, installed_at) = shipped.expect("a COPY --from of the tinct binary");
    let build = &runs[&stage];
    assert!(
        build.contains("cargo build --release --locked --bin tinct"),
        "{build}"
    );
    // The file copied out of the builder is the one cargo built.
    let after_build = build
        .split("target/release/tinct")
        .nth(1)
        .unwrap_or_else(|| panic!("the built binary is never copied out: {build}"));
    assert_eq!(after_build.split_whitespace().next(), Some(built_to));
    assert!(build.contains("--mount=type=cache"), "dependency caching");
    assert_eq!(
        get("ENTRYPOINT"),
        [&format!("[\"{installed_at}\"]")],
        "the entry point is the shipped binary"
    );
    assert_eq!(stages.last().map(String::as_str), Some("runtime"));
    assert!(get("HEALTHCHECK").is_empty(), "Kubernetes probes instead");
    assert_eq!(get("STOPSIGNAL"), ["SIGTERM"]);
    let user = get("USER");
    assert!(
        !user.is_empty()
            && !user
                .iter()
                .any(|u| u.starts_with("root") || u.starts_with("0"))
    );
    assert!(dockerfile_env().contains(&("TINCT_LISTEN".to_owned(), "0.0.0.0:8080".to_owned())));
    let ignore = read(&deploy_dir().join("Dockerfile.dockerignore"));
    for excluded in ["target", ".git"] {
        assert!(ignore.lines().any(|l| l == excluded), "{excluded}");
    }
}

/// An nginx master with its workers (own process group), stopped on drop.
struct NginxRun {
    child: Child,
    stopped: bool,
}

impl NginxRun {
    /// Graceful stop (SIGQUIT to the group flushes the buffered access log), then SIGKILL for
    /// whatever is left.
    fn stop(&mut self) {
        if std::mem::replace(&mut self.stopped, true) {
            return;
        }
        let group = format!("-{}", self.child.id());
        let signal = |name: &str| {
            Command::new("kill")
                .args(["-s", name, "--", &group])
                .stderr(Stdio::null())
                .status()
        };
        let _ = signal("QUIT");
        let deadline = Instant::now() + Duration::from_secs(10);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        // Only while the master is unreaped is the group id surely still nginx's.
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = signal("KILL");
        }
        let _ = self.child.wait();
    }
}

impl Drop for NginxRun {
    fn drop(&mut self) {
        self.stop();
    }
}

fn nginx_binary() -> &'static str {
    if Path::new("/usr/sbin/nginx").exists() {
        "/usr/sbin/nginx"
    } else {
        "nginx"
    }
}

/// deploy/nginx/tinct.conf with the first server of each upstream on `dead` and the others on
/// `upstream`, listening on `port`, files in `dir`, included in an `http {}` the way a server's
/// nginx.conf does.
fn nginx_wrapper(dir: &Path, port: u16, upstream: &str, dead: &str) -> PathBuf {
    let ours = read(&deploy_dir().join("nginx/tinct.conf"));
    let d = dir.display();
    let mut inside_upstream = false;
    let mut servers = 0;
    let mut first = false;
    let rewritten: String = ours
        .lines()
        .map(|line| {
            let t = line.trim_start();
            if t.starts_with("upstream ") {
                inside_upstream = true;
                first = true;
            } else if t.starts_with('}') {
                inside_upstream = false;
            }
            let line = if inside_upstream && t.starts_with("server ") {
                servers += 1;
                // Same options, other address: `server HOST:PORT max_fails=… …;`.
                let address = t.split_whitespace().nth(1).unwrap().trim_end_matches(';');
                let to = if std::mem::take(&mut first) {
                    dead
                } else {
                    upstream
                };
                line.replacen(address, to, 1)
            } else if t.starts_with("listen ") {
                format!("    listen 127.0.0.1:{port};")
            } else {
                line.replace("/var/cache/nginx/", &format!("{d}/cache/"))
                    .replace("/var/log/nginx/", &format!("{d}/"))
            };
            line + "\n"
        })
        .collect();
    assert!(servers >= 2, "the upstreams list instances");
    assert!(
        !rewritten.contains("/var/"),
        "every path was moved: {rewritten}"
    );
    std::fs::write(dir.join("tinct.conf"), rewritten).unwrap();
    // nginx creates the cache directory's last level only.
    std::fs::create_dir_all(dir.join("cache")).unwrap();
    let user = if is_root() { "user root;\n" } else { "" };
    let wrapper = format!(
        "{user}worker_processes 1;\ndaemon off;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
         events {{ worker_connections 256; }}\nhttp {{\n    client_body_temp_path {d}/body;\n    \
         proxy_temp_path {d}/proxy;\n    fastcgi_temp_path {d}/fastcgi;\n    uwsgi_temp_path \
         {d}/uwsgi;\n    scgi_temp_path {d}/scgi;\n    include {d}/tinct.conf;\n}}\n"
    );
    let path = dir.join("nginx.conf");
    std::fs::write(&path, wrapper).unwrap();
    path
}

/// Whether this test runs as root (nginx then needs `user root;` to use the temp directory).
fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_nginx_config_passes_nginx_t_and_proxies_a_real_instance() {
    const SECRET: &str = "a-test-secret-of-at-least-32-characters";
    let data = tempfile::tempdir().unwrap();
    let server = TinctServer::start_in(
        Path::new(BIN),
        data.path(),
        &[("TINCT_AUTH_SECRET", SECRET)],
    );
    let minted = tinct_command(Path::new(BIN), data.path())
        .args(["auth", "token", "--sub", "nginx-test"])
        .env("TINCT_AUTH_SECRET", SECRET)
        .output()
        .unwrap();
    assert!(minted.status.success());
    let token = String::from_utf8(minted.stdout).unwrap().trim().to_owned();
    let created = post_command(&server.url, "node.create", json!({"id": "acme"})).await;
    assert_eq!(created["success"], true, "{created}");
    let upstream = server.url.trim_start_matches("http://").to_owned();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    // One instance of each upstream is down: requests still succeed, retried on the next.
    let dead = format!("127.0.0.1:{}", free_port());
    let conf = nginx_wrapper(dir.path(), port, &upstream, &dead);
    let test = Command::new(nginx_binary())
        .arg("-t")
        .arg("-p")
        .arg(dir.path())
        .arg("-c")
        .arg(&conf)
        .output()
        .expect("nginx (Debian package nginx)");
    assert!(
        test.status.success(),
        "nginx -t: {}",
        String::from_utf8_lossy(&test.stderr)
    );

    use std::os::unix::process::CommandExt;
    let child = Command::new(nginx_binary())
        .arg("-p")
        .arg(dir.path())
        .arg("-c")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("start nginx");
    let mut nginx = NginxRun {
        child,
        stopped: false,
    };
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(15);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nginx did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let client = reqwest::Client::new();

    // Exports: stored with tinct's Cache-Control, served from the cache next time; an
    // authorised request goes to tinct and bypasses it.
    let export = format!("{base}/v1/nodes/acme/export.css?outputReferences=true");
    let first = client.get(&export).send().await.unwrap();
    assert_eq!(first.status(), 200);
    assert_eq!(first.headers()["x-cache-status"], "MISS");
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();
    let second = client.get(&export).send().await.unwrap();
    assert_eq!(second.headers()["x-cache-status"], "HIT");
    assert_eq!(second.headers()["etag"].to_str().unwrap(), etag);
    let authorised = client
        .get(&export)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(authorised.status(), 200);
    assert_eq!(authorised.headers()["x-cache-status"], "BYPASS");
    let not_modified = client
        .get(&export)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(not_modified.status(), 304);

    // The WebSocket upgrade goes through and the instance says hello.
    let (mut ws, _) = tokio_tungstenite::connect_async(format!(
        "ws://127.0.0.1:{port}/v1/ws?node=acme&access_token={token}"
    ))
    .await
    .unwrap_or_else(|e| panic!("WebSocket through nginx: {e}"));
    let hello = tokio::time::timeout(Duration::from_secs(10), ws.next())
        .await
        .expect("hello in time")
        .expect("a message")
        .unwrap();
    let hello: Value = serde_json::from_str(hello.to_text().unwrap()).unwrap();
    assert_eq!(hello["type"], "hello");
    drop(ws);

    // Everything else reaches tinct; /metrics stays private.
    let nodes = client.get(format!("{base}/v1/nodes")).send().await.unwrap();
    assert_eq!(nodes.status(), 200);
    let metrics = client.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(metrics.status(), 404);

    // The access log (flushed when nginx stops) has the paths but never a query string.
    drop(client);
    nginx.stop();
    let log = read(&dir.path().join("tinct-access.log"));
    assert!(
        log.contains("/v1/ws") && log.contains("export.css"),
        "{log}"
    );
    assert!(!log.contains(&token), "{log}");
    // Some request met the dead instance first and was passed on (both addresses logged).
    assert!(
        log.contains(&format!("\"upstream\":\"{dead}, {upstream}\"")),
        "{log}"
    );
    assert!(!log.contains("outputReferences"), "{log}");
    for line in log.lines() {
        serde_json::from_str::<Value>(line).unwrap_or_else(|e| panic!("{e}: {line}"));
    }
}
