// Generates the three token sets (DTCG files), installs Style Dictionary into a temporary
// directory, builds CSS with both tools from the same input, prints each time and the ratio,
// and compares the two CSS outputs token by token. See README.md.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const TINCT = process.env.TINCT_BIN;
const RUNS = Number(process.env.RUNS ?? 5);
const SD_VERSION = process.env.SD_VERSION ?? (Number(process.versions.node.split('.')[0]) >= 22 ? '5' : '4');
const ALL_SETS = [
  { name: '9k-3', tokens: 9000, depth: 3 },
  { name: '9k-30', tokens: 9000, depth: 30 },
  { name: '30k-100', tokens: 30000, depth: 100 },
];
const wanted = process.env.SETS ? process.env.SETS.split(',') : ALL_SETS.map((s) => s.name);
const SETS = ALL_SETS.filter((s) => wanted.includes(s.name));

/** Deterministic pseudo-random numbers (mulberry32), so every run builds the same files. */
function rng(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * `tokens` tokens in chains: each chain starts with a literal (a colour or a dimension) and
 * every further step references the previous one, so the last step resolves through `depth`
 * references. Colours and dimensions alternate by chain.
 */
function generate({ tokens, depth }) {
  const random = rng(tokens * 1000 + depth);
  const doc = { color: { $type: 'color' }, size: { $type: 'dimension' } };
  let made = 0;
  for (let chain = 0; made < tokens; chain++) {
    const group = chain % 2 === 0 ? 'color' : 'size';
    const name = `chain-${chain}`;
    const steps = {};
    for (let step = 0; step <= depth && made < tokens; step++, made++) {
      if (step === 0) {
        const literal =
          group === 'color'
            ? '#' + Math.floor(random() * 0xffffff).toString(16).padStart(6, '0')
            : `${Math.floor(random() * 64)}px`;
        steps[`step-${step}`] = { $value: literal };
      } else {
        steps[`step-${step}`] = { $value: `{${group}.${name}.step-${step - 1}}` };
      }
    }
    doc[group][name] = steps;
  }
  return doc;
}

function time(cmd, args, options) {
  const start = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 28, ...options });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (r.status !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  }
  return { ms, stdout: r.stdout };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** `--name: value;` declarations of a CSS file. */
function declarations(css) {
  const map = new Map();
  for (const m of css.matchAll(/--([A-Za-z0-9_-]+)\s*:\s*([^;]+);/g)) {
    map.set(m[1], m[2].trim().toLowerCase());
  }
  return map;
}

const SD_SCRIPT = `
import StyleDictionary from 'style-dictionary';
const [source, out] = process.argv.slice(2);
const sd = new StyleDictionary({
  source: [source],
  log: { verbosity: 'silent', warnings: 'disabled' },
  platforms: {
    css: {
      transforms: ['name/kebab'],
      buildPath: out + '/',
      files: [{ destination: 'tokens.css', format: 'css/variables' }],
    },
  },
});
const start = performance.now();
await sd.buildAllPlatforms();
console.log(JSON.stringify({ inProcessMs: performance.now() - start }));
`;

const work = mkdtempSync(join(tmpdir(), 'tinct-bench-'));
try {
  console.log(`installing style-dictionary@${SD_VERSION} into ${work} …`);
  writeFileSync(join(work, 'package.json'), JSON.stringify({ name: 'bench', private: true, type: 'module' }));
  execFileSync('npm', ['install', '--no-audit', '--no-fund', '--silent', `style-dictionary@${SD_VERSION}`], {
    cwd: work,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const sdVersion = JSON.parse(readFileSync(join(work, 'node_modules/style-dictionary/package.json'), 'utf8')).version;
  writeFileSync(join(work, 'sd-build.mjs'), SD_SCRIPT);
  const tinctVersion = execFileSync(TINCT, ['--version'], { encoding: 'utf8' }).trim();
  console.log(`${tinctVersion} vs style-dictionary ${sdVersion}, node ${process.version}, ${RUNS} runs each (median)\n`);
  const rows = [];
  let mismatches = 0;
  for (const set of SETS) {
    const dir = join(work, set.name);
    mkdirSync(dir, { recursive: true });
    const input = join(dir, 'tokens.json');
    writeFileSync(input, JSON.stringify(generate(set)));
    const tinctOut = join(dir, 'tinct');
    const sdOut = join(dir, 'sd');
    const tinctRuns = [];
    const sdRuns = [];
    const sdInProcess = [];
    for (let i = 0; i < RUNS; i++) {
      tinctRuns.push(time(TINCT, ['build', input, '--format', 'css', '--out', tinctOut, '--quiet']).ms);
      const sd = time('node', ['sd-build.mjs', input, sdOut], { cwd: work });
      sdRuns.push(sd.ms);
      sdInProcess.push(JSON.parse(sd.stdout.trim().split('\n').pop()).inProcessMs);
    }
    const ours = declarations(readFileSync(join(tinctOut, 'tokens.css'), 'utf8'));
    const theirs = declarations(readFileSync(join(sdOut, 'tokens.css'), 'utf8'));
    const diffs = [];
    for (const [name, value] of theirs) {
      if (!ours.has(name)) diffs.push(`${name}: missing in tinct (style-dictionary: ${value})`);
      else if (ours.get(name) !== value) diffs.push(`${name}: tinct ${ours.get(name)} vs style-dictionary ${value}`);
    }
    for (const name of ours.keys()) if (!theirs.has(name)) diffs.push(`${name}: missing in style-dictionary`);
    mismatches += diffs.length;
    const t = median(tinctRuns);
    const s = median(sdRuns);
    rows.push({
      set: set.name,
      tokens: ours.size,
      'tinct ms': t.toFixed(1),
      'style-dictionary ms': s.toFixed(1),
      'sd in-process ms': median(sdInProcess).toFixed(1),
      ratio: `${(s / t).toFixed(1)}x`,
      'differing tokens': diffs.length,
    });
    for (const d of diffs.slice(0, 10)) console.log(`  ${set.name}: ${d}`);
    const last = rows[rows.length - 1];
    console.log(`${set.name}: tinct ${last['tinct ms']} ms, style-dictionary ${last['style-dictionary ms']} ms (${last.ratio}), ${diffs.length} differing tokens`);
  }
  console.table(rows);
  console.log('times are wall-clock for the whole command (process start, read, resolve, write CSS).');
  console.log(mismatches === 0 ? 'outputs agree: every token has the same value in both CSS files.' : `${mismatches} token(s) differ (listed above).`);
  process.exitCode = mismatches === 0 ? 0 : 1;
} finally {
  if (!process.env.KEEP) rmSync(work, { recursive: true, force: true });
}
