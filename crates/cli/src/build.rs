//! `tinct build`: token files (or a resolver document) to platform files, offline. A drop-in
//! replacement for a Style Dictionary build step: the engine does the work, this reads files,
//! writes outputs and reports.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use figment::providers::Format as _;
use serde::Deserialize;
use serde_json::{Value, json};
use tinct_engine::{
    Code, ColorFormat, Diagnostic, ExportOptions, Format, Input, NameCase, ResolveOptions,
    Resolved, ResolverDocument, Theme, TokenSet, export, export_themes, is_resolver_document,
    name_collisions, parse_resolver,
};

const BUILD_HELP: &str = "\
Examples:
  tinct build tokens/ --format css --out build
  tinct build tokens/ --format css,scss,js,ts,swift,android,compose --prefix ds
  tinct build --resolver tokens.resolver.json --format css      one CSS file, a rule per theme
  tinct build --resolver tokens.resolver.json --theme theme=dark --format json
  tinct build                                                   reads ./tinct.build.toml

tinct.build.toml:
  inputs = [\"tokens\"]            # or: resolver = \"tokens.resolver.json\"
  out = \"build\"
  prefix = \"ds\"                  # defaults for every output
  [[output]]
  format = \"css\"
  file = \"variables.css\"
  output_references = true
  [[output]]
  format = \"swift\"
  theme = { theme = \"dark\" }

Formats: css, scss, less, js, ts, json, json-flat, dtcg, swift, android, compose.
Exit codes: 0 built, 2 invalid tokens or arguments, 12 circular reference, 13 broken
reference, 1 a file could not be read or written.";

#[derive(clap::Args, Debug)]
#[command(after_help = BUILD_HELP)]
pub struct BuildArgs {
    /// Token files or directories (searched for *.json), merged in order: later files win.
    #[arg(value_name = "FILES_OR_DIRS")]
    pub inputs: Vec<PathBuf>,
    /// Output formats, comma-separated or repeated [default: css].
    #[arg(long, short, value_delimiter = ',', value_name = "FORMAT")]
    pub format: Vec<String>,
    /// Output directory [default: build].
    #[arg(long, short, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// A DTCG resolver document (sets and modifiers) instead of token files.
    #[arg(long, value_name = "FILE")]
    pub resolver: Option<PathBuf>,
    /// Resolver input, e.g. --theme theme=dark (repeat for several modifiers). Without it,
    /// every combination is built: CSS as one file with a rule per theme, other formats as one
    /// file per combination.
    #[arg(long, value_name = "MODIFIER=CONTEXT")]
    pub theme: Vec<String>,
    /// Keep references (var(--x), $x, {x}, constants) instead of resolved values.
    #[arg(long)]
    pub output_references: bool,
    /// Prefix for every name, e.g. ds gives --ds-color-brand.
    #[arg(long)]
    pub prefix: Option<String>,
    /// Name case: kebab, camel, pascal, snake or constant [default: the format's].
    #[arg(long, value_name = "CASE")]
    pub name_case: Option<String>,
    /// CSS selector of the base rule [default: :root].
    #[arg(long)]
    pub selector: Option<String>,
    /// Selector of each theme rule; {modifier} and {context} are replaced.
    #[arg(
        long,
        value_name = "TEMPLATE",
        default_value = "[data-{modifier}=\"{context}\"]"
    )]
    pub theme_selector: String,
    /// Colour output for css/scss/less/js: auto, hex, rgb, hsl, oklch or display-p3.
    #[arg(long)]
    pub color: Option<String>,
    /// Base name of the output files [default: tokens].
    #[arg(long)]
    pub name: Option<String>,
    /// Build configuration file [default: ./tinct.build.toml when no inputs are given].
    #[arg(long, value_name = "FILE")]
    pub build_config: Option<PathBuf>,
    /// Check the tokens and report, without writing any file.
    #[arg(long)]
    pub check: bool,
    /// Print errors only (no warnings, no summary).
    #[arg(long, short)]
    pub quiet: bool,
}

/// `tinct.build.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct BuildConfig {
    #[serde(default)]
    inputs: Vec<PathBuf>,
    resolver: Option<PathBuf>,
    out: Option<PathBuf>,
    name: Option<String>,
    #[serde(flatten)]
    defaults: OutputSettings,
    #[serde(default)]
    output: Vec<OutputConfig>,
}

#[derive(Debug, Default, Clone, Deserialize)]
struct OutputSettings {
    prefix: Option<String>,
    name_case: Option<String>,
    selector: Option<String>,
    theme_selector: Option<String>,
    color: Option<String>,
    output_references: Option<bool>,
    module_name: Option<String>,
    package: Option<String>,
    rem_base: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OutputConfig {
    format: String,
    file: Option<String>,
    theme: Option<BTreeMap<String, String>>,
    #[serde(flatten)]
    settings: OutputSettings,
}

/// One file to produce.
struct Job {
    format: Format,
    file: Option<String>,
    theme: Option<Input>,
    options: ExportOptions,
    theme_selector: String,
}

struct Report {
    errors: Vec<Diagnostic>,
    warnings: Vec<Diagnostic>,
    outputs: Vec<Value>,
    tokens: usize,
}

fn io_error(message: String) -> Diagnostic {
    Diagnostic {
        code: Code::InvalidRef,
        file: None,
        pointer: String::new(),
        path: None,
        message,
    }
}

fn arg_error(message: String) -> Diagnostic {
    Diagnostic {
        code: Code::InvalidProperty,
        file: None,
        pointer: String::new(),
        path: None,
        message,
    }
}

pub fn run(args: &BuildArgs, json: bool) -> Result<u8, String> {
    let started = Instant::now();
    let mut report = Report {
        errors: Vec::new(),
        warnings: Vec::new(),
        outputs: Vec::new(),
        tokens: 0,
    };
    let mut io_failed = false;
    build(args, &mut report, &mut io_failed, json);
    let elapsed = started.elapsed();
    let code = exit_code(&report.errors, io_failed);
    if json {
        let out = json!({
            "success": report.errors.is_empty(),
            "tokens": report.tokens,
            "outputs": report.outputs,
            "errors": report.errors,
            "warnings": report.warnings,
            "durationMs": elapsed.as_secs_f64() * 1000.0,
        });
        println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
        return Ok(code);
    }
    if !args.quiet {
        for w in &report.warnings {
            eprintln!("warning: {w}");
        }
    }
    for e in &report.errors {
        eprintln!("error: {e}");
    }
    if !report.errors.is_empty() {
        eprintln!(
            "{} error(s); nothing was written. Fix them and run tinct build again.",
            report.errors.len()
        );
    } else if !args.quiet {
        let verb = if args.check { "Checked" } else { "Built" };
        println!(
            "{verb} {} file(s) from {} tokens in {:.1} ms",
            report.outputs.len(),
            report.tokens,
            elapsed.as_secs_f64() * 1000.0
        );
        for o in &report.outputs {
            println!(
                "  {} ({}, {} bytes)",
                o["file"].as_str().unwrap_or_default(),
                o["format"].as_str().unwrap_or_default(),
                o["bytes"]
            );
        }
    }
    Ok(code)
}

/// 12 when a cycle is the first problem, 13 for a broken reference, 1 when a file could not be
/// read or written, 2 for any other invalid input.
fn exit_code(errors: &[Diagnostic], io_failed: bool) -> u8 {
    match errors.first().map(|e| e.code) {
        None => 0,
        Some(_) if io_failed => 1,
        Some(Code::CircularReference) => 12,
        Some(Code::BrokenReference) => 13,
        Some(_) => 2,
    }
}

fn read_json(path: &Path, report: &mut Report, io_failed: &mut bool) -> Option<Value> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            *io_failed = true;
            report
                .errors
                .push(io_error(format!("cannot read {}: {e}", path.display())));
            return None;
        }
    };
    match serde_json::from_str(&text) {
        Ok(v) => Some(v),
        Err(e) => {
            report.errors.push(Diagnostic {
                code: Code::NotAnObject,
                file: Some(path.display().to_string()),
                pointer: String::new(),
                path: None,
                message: format!("not valid JSON: {e}"),
            });
            None
        }
    }
}

/// Files of `inputs` in order; directories contribute their `*.json` files, sorted by path.
fn expand(inputs: &[PathBuf], report: &mut Report, io_failed: &mut bool) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for input in inputs {
        if input.is_dir() {
            let mut found = Vec::new();
            let mut stack = vec![input.clone()];
            while let Some(dir) = stack.pop() {
                let entries = match std::fs::read_dir(&dir) {
                    Ok(e) => e,
                    Err(e) => {
                        *io_failed = true;
                        report
                            .errors
                            .push(io_error(format!("cannot read {}: {e}", dir.display())));
                        continue;
                    }
                };
                for entry in entries.flatten() {
                    let path = entry.path();
                    if path.is_dir() {
                        stack.push(path);
                    } else if path
                        .file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.ends_with(".json") || n.ends_with(".tokens"))
                    {
                        found.push(path);
                    }
                }
            }
            found.sort();
            files.extend(found);
        } else if input.exists() {
            files.push(input.clone());
        } else {
            *io_failed = true;
            report.errors.push(io_error(format!(
                "{} does not exist; pass token files or directories",
                input.display()
            )));
        }
    }
    files
}

fn parse_theme(specs: &[String]) -> Result<Option<Input>, Diagnostic> {
    if specs.is_empty() {
        return Ok(None);
    }
    let mut input = Input::new();
    for spec in specs {
        let Some((k, v)) = spec.split_once('=') else {
            return Err(arg_error(format!(
                "--theme {spec:?} must be MODIFIER=CONTEXT, e.g. --theme theme=dark"
            )));
        };
        input.insert(k.trim().to_owned(), v.trim().to_owned());
    }
    Ok(Some(input))
}

fn options_of(settings: &OutputSettings) -> Result<ExportOptions, Diagnostic> {
    let mut options = ExportOptions::default();
    if let Some(s) = &settings.selector {
        if s.trim().is_empty() || s.contains(['{', '}']) {
            return Err(arg_error(format!(
                "selector {s:?} must be a non-empty CSS selector without braces"
            )));
        }
        options.selector = s.clone();
    }
    options.prefix = settings.prefix.clone();
    if let Some(c) = &settings.name_case {
        options.name_case = Some(c.parse::<NameCase>().map_err(arg_error)?);
    }
    if let Some(c) = &settings.color {
        options.color = c.parse::<ColorFormat>().map_err(arg_error)?;
    }
    options.output_references = settings.output_references.unwrap_or(false);
    options.module_name = settings.module_name.clone();
    options.package = settings.package.clone();
    if let Some(r) = settings.rem_base {
        options.rem_base = r;
    }
    Ok(options)
}

struct Plan {
    inputs: Vec<PathBuf>,
    resolver: Option<PathBuf>,
    out: PathBuf,
    name: String,
    jobs: Vec<Job>,
}

fn plan(args: &BuildArgs) -> Result<Plan, Diagnostic> {
    let config_path = match &args.build_config {
        Some(p) => Some(p.clone()),
        None if args.inputs.is_empty() && args.resolver.is_none() => {
            let default = PathBuf::from("tinct.build.toml");
            default.exists().then_some(default)
        }
        None => None,
    };
    let flags = OutputSettings {
        prefix: args.prefix.clone(),
        name_case: args.name_case.clone(),
        selector: args.selector.clone(),
        theme_selector: None,
        color: args.color.clone(),
        output_references: args.output_references.then_some(true),
        module_name: None,
        package: None,
        rem_base: None,
    };
    let theme = parse_theme(&args.theme)?;
    let Some(config_path) = config_path else {
        if args.inputs.is_empty() && args.resolver.is_none() {
            return Err(arg_error(
                "nothing to build: pass token files or directories, --resolver FILE, or write a tinct.build.toml (see tinct build --help)".into(),
            ));
        }
        let formats = if args.format.is_empty() {
            vec!["css".to_owned()]
        } else {
            args.format.clone()
        };
        let options = options_of(&flags)?;
        let mut jobs = Vec::new();
        for f in formats {
            let format: Format = f
                .trim()
                .parse()
                .map_err(|e: tinct_engine::UnknownFormat| arg_error(e.to_string()))?;
            jobs.push(Job {
                format,
                file: None,
                theme: theme.clone(),
                options: options.clone(),
                theme_selector: args.theme_selector.clone(),
            });
        }
        return Ok(Plan {
            inputs: args.inputs.clone(),
            resolver: args.resolver.clone(),
            out: args.out.clone().unwrap_or_else(|| PathBuf::from("build")),
            name: args.name.clone().unwrap_or_else(|| "tokens".to_owned()),
            jobs,
        });
    };
    let config: BuildConfig =
        figment::Figment::from(figment::providers::Toml::file_exact(&config_path))
            .extract()
            .map_err(|e| arg_error(format!("{}: {e}", config_path.display())))?;
    let base = config_path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let rel = |p: &PathBuf| {
        if p.is_absolute() {
            p.clone()
        } else {
            base.join(p)
        }
    };
    if config.output.is_empty() {
        return Err(arg_error(format!(
            "{} has no [[output]]; add at least one, e.g. [[output]] format = \"css\"",
            config_path.display()
        )));
    }
    let mut jobs = Vec::new();
    for o in &config.output {
        let merge = |a: &Option<String>, b: &Option<String>, c: &Option<String>| {
            a.clone().or_else(|| b.clone()).or_else(|| c.clone())
        };
        let settings = OutputSettings {
            prefix: merge(&flags.prefix, &o.settings.prefix, &config.defaults.prefix),
            name_case: merge(
                &flags.name_case,
                &o.settings.name_case,
                &config.defaults.name_case,
            ),
            selector: merge(
                &flags.selector,
                &o.settings.selector,
                &config.defaults.selector,
            ),
            theme_selector: merge(
                &None,
                &o.settings.theme_selector,
                &config.defaults.theme_selector,
            ),
            color: merge(&flags.color, &o.settings.color, &config.defaults.color),
            output_references: flags
                .output_references
                .or(o.settings.output_references)
                .or(config.defaults.output_references),
            module_name: merge(&None, &o.settings.module_name, &config.defaults.module_name),
            package: merge(&None, &o.settings.package, &config.defaults.package),
            rem_base: o.settings.rem_base.or(config.defaults.rem_base),
        };
        let format: Format = o
            .format
            .parse()
            .map_err(|e: tinct_engine::UnknownFormat| arg_error(e.to_string()))?;
        jobs.push(Job {
            format,
            file: o.file.clone(),
            theme: theme.clone().or_else(|| o.theme.clone()),
            options: options_of(&settings)?,
            theme_selector: settings
                .theme_selector
                .unwrap_or_else(|| args.theme_selector.clone()),
        });
    }
    let inputs = if args.inputs.is_empty() {
        config.inputs.iter().map(rel).collect()
    } else {
        args.inputs.clone()
    };
    Ok(Plan {
        inputs,
        resolver: args
            .resolver
            .clone()
            .or_else(|| config.resolver.as_ref().map(rel)),
        out: args
            .out
            .clone()
            .or_else(|| config.out.as_ref().map(rel))
            .unwrap_or_else(|| base.join("build")),
        name: args
            .name
            .clone()
            .or(config.name)
            .unwrap_or_else(|| "tokens".to_owned()),
        jobs,
    })
}

/// Where the tokens come from: one resolved set, or a resolver and its files.
enum Tokens {
    Plain(Resolved),
    Resolver {
        doc: ResolverDocument,
        files: BTreeMap<String, Value>,
        label: String,
        cache: BTreeMap<Input, Resolved>,
    },
}

impl Tokens {
    fn resolve(&mut self, input: &Input, report: &mut Report) -> Option<Resolved> {
        match self {
            Tokens::Plain(r) => Some(r.clone()),
            Tokens::Resolver {
                doc,
                files,
                label,
                cache,
            } => {
                let input = match doc.complete_input(input) {
                    Ok(i) => i,
                    Err(e) => {
                        report.errors.extend(e);
                        return None;
                    }
                };
                if let Some(r) = cache.get(&input) {
                    return Some(r.clone());
                }
                match doc.resolve(&input, files, label) {
                    Ok((resolved, warnings)) => {
                        if cache.is_empty() {
                            report.warnings.extend(warnings);
                        }
                        report.tokens = report.tokens.max(resolved.tokens.len());
                        cache.insert(input, resolved.clone());
                        Some(resolved)
                    }
                    Err(e) => {
                        for d in e {
                            if !report.errors.contains(&d) {
                                report.errors.push(d);
                            }
                        }
                        None
                    }
                }
            }
        }
    }
}

fn load(plan: &Plan, report: &mut Report, io_failed: &mut bool) -> Option<Tokens> {
    if plan.resolver.is_some() && !plan.inputs.is_empty() {
        report.errors.push(arg_error(
            "pass either token files or --resolver (a resolver document names its own files)"
                .into(),
        ));
        return None;
    }
    if let Some(path) = &plan.resolver {
        let doc = read_json(path, report, io_failed)?;
        let label = path.display().to_string();
        let (resolver, warnings) = match parse_resolver(&doc) {
            Ok(r) => r,
            Err(errors) => {
                report.errors.extend(errors.into_iter().map(|mut e| {
                    e.file = Some(label.clone());
                    e
                }));
                return None;
            }
        };
        report.warnings.extend(warnings.into_iter().map(|mut w| {
            w.file = Some(label.clone());
            w
        }));
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut files = BTreeMap::new();
        for file in resolver.files() {
            if let Some(v) = read_json(&dir.join(&file), report, io_failed) {
                files.insert(file, v);
            }
        }
        if !report.errors.is_empty() {
            return None;
        }
        return Some(Tokens::Resolver {
            doc: resolver,
            files,
            label,
            cache: BTreeMap::new(),
        });
    }
    if plan.jobs.iter().any(|j| j.theme.is_some()) {
        report.errors.push(arg_error(
            "--theme (or an output's theme) selects contexts of a resolver document; pass --resolver FILE too".into(),
        ));
        return None;
    }
    let files = expand(&plan.inputs, report, io_failed);
    if files.is_empty() && report.errors.is_empty() {
        report.errors.push(arg_error(
            "no token files found (directories are searched for *.json)".into(),
        ));
    }
    let mut set = TokenSet::new();
    for file in &files {
        let Some(doc) = read_json(file, report, io_failed) else {
            continue;
        };
        if is_resolver_document(&doc) {
            report.errors.push(arg_error(format!(
                "{} is a resolver document; pass it with --resolver",
                file.display()
            )));
            continue;
        }
        set.merge(TokenSet::parse(&doc, Some(&file.display().to_string())));
        // The process ends soon: freeing a large JSON tree only costs time.
        std::mem::forget(doc);
    }
    if !report.errors.is_empty() {
        // A file that did not load leaves references into it dangling: resolving would only
        // add noise, so report what the loaded files break on their own.
        match set.finish() {
            Ok((_, warnings)) => report.warnings.extend(warnings),
            Err(errors) => report.errors.extend(errors),
        }
        return None;
    }
    // Exports need values, not lineage: skip recording alias chains.
    match set.resolve(&ResolveOptions {
        alias_chains: false,
    }) {
        Ok((resolved, warnings)) => {
            report.warnings.extend(warnings);
            report.tokens = resolved.tokens.len();
            Some(Tokens::Plain(resolved))
        }
        Err(errors) => {
            report.errors.extend(errors);
            None
        }
    }
}

fn suffix(input: &Input, default: &Input) -> String {
    if input == default {
        return String::new();
    }
    let parts: Vec<&str> = input.values().map(String::as_str).collect();
    format!(".{}", parts.join("-"))
}

/// The files of one job: `(file name, content, token count)`.
fn render(
    job: &Job,
    tokens: &mut Tokens,
    name: &str,
    report: &mut Report,
) -> Vec<(String, String, usize)> {
    let file_name = |suffix: &str| match &job.file {
        Some(f) if suffix.is_empty() => f.clone(),
        Some(f) => match f.split_once('.') {
            Some((stem, ext)) => format!("{stem}{suffix}.{ext}"),
            None => format!("{f}{suffix}"),
        },
        None => format!("{name}{suffix}.{}", job.format.extension()),
    };
    let check = |resolved: &Resolved, report: &mut Report| {
        for (collided, paths) in name_collisions(resolved, job.format, &job.options) {
            report.errors.push(arg_error(format!(
                "{} tokens get the {} name {collided:?}: {}; rename one or choose another --name-case",
                paths.len(),
                job.format,
                paths.join(", ")
            )));
        }
    };
    let (doc, default, inputs) = match tokens {
        Tokens::Plain(resolved) => {
            check(resolved, report);
            let content = export(resolved, job.format, &job.options);
            return vec![(file_name(""), content, resolved.tokens.len())];
        }
        Tokens::Resolver { doc, .. } => {
            let default = doc.default_input();
            let inputs = match &job.theme {
                Some(t) => vec![t.clone()],
                None => doc.all_inputs(),
            };
            (doc.clone(), default, inputs)
        }
    };
    let mut out = Vec::new();
    if job.format == Format::Css && job.theme.is_none() {
        let Some(base) = tokens.resolve(&default, report) else {
            return out;
        };
        check(&base, report);
        let mut themed: Vec<(String, Resolved)> = Vec::new();
        for input in inputs.iter().filter(|i| **i != default) {
            let Some(resolved) = tokens.resolve(input, report) else {
                continue;
            };
            let selector: String = input
                .iter()
                .filter(|(m, c)| default.get(*m) != Some(*c))
                .map(|(m, c)| {
                    job.theme_selector
                        .replace("{modifier}", m)
                        .replace("{context}", c)
                })
                .collect();
            themed.push((selector, resolved));
        }
        let _ = &doc;
        let themes: Vec<Theme<'_>> = themed
            .iter()
            .map(|(selector, resolved)| Theme { selector, resolved })
            .collect();
        let content = export_themes(&base, &themes, &job.options);
        out.push((file_name(""), content, base.tokens.len()));
        return out;
    }
    for input in &inputs {
        let Some(resolved) = tokens.resolve(input, report) else {
            continue;
        };
        check(&resolved, report);
        let complete = doc.complete_input(input).unwrap_or_else(|_| input.clone());
        let content = export(&resolved, job.format, &job.options);
        // An explicit --theme names the file plainly; enumerated combinations get a suffix.
        let suffix = if job.theme.is_some() {
            String::new()
        } else {
            suffix(&complete, &default)
        };
        out.push((file_name(&suffix), content, resolved.tokens.len()));
    }
    out
}

fn build(args: &BuildArgs, report: &mut Report, io_failed: &mut bool, json: bool) {
    let plan = match plan(args) {
        Ok(p) => p,
        Err(e) => {
            report.errors.push(e);
            return;
        }
    };
    let Some(mut tokens) = load(&plan, report, io_failed) else {
        return;
    };
    let bar = if plan.jobs.len() > 1 && !json && !args.quiet {
        indicatif::ProgressBar::new(plan.jobs.len() as u64)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut files = Vec::new();
    for job in &plan.jobs {
        bar.set_message(job.format.as_str());
        for (file, content, count) in render(job, &mut tokens, &plan.name, report) {
            files.push((job.format, file, content, count));
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    // Freeing tens of thousands of resolved tokens just before exit only costs time.
    std::mem::forget(tokens);
    if !report.errors.is_empty() {
        return;
    }
    let mut seen = BTreeMap::new();
    for (format, file, _, _) in &files {
        if let Some(other) = seen.insert(file.clone(), *format) {
            report.errors.push(arg_error(format!(
                "the {other} and {format} outputs would both write {file}; give one a different file name"
            )));
        }
    }
    if !report.errors.is_empty() {
        return;
    }
    if !args.check
        && let Err(e) = std::fs::create_dir_all(&plan.out)
    {
        *io_failed = true;
        report.errors.push(io_error(format!(
            "cannot create {}: {e}",
            plan.out.display()
        )));
        return;
    }
    for (format, file, content, count) in files {
        let path = plan.out.join(&file);
        if !args.check {
            if let Some(parent) = path.parent() {
                let _ = std::fs::create_dir_all(parent);
            }
            if let Err(e) = std::fs::write(&path, &content) {
                *io_failed = true;
                report
                    .errors
                    .push(io_error(format!("cannot write {}: {e}", path.display())));
                continue;
            }
        }
        report.outputs.push(json!({
            "file": path.display().to_string(),
            "format": format.as_str(),
            "tokens": count,
            "bytes": content.len(),
        }));
    }
}
