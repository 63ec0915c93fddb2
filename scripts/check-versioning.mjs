// Proves, on a throwaway copy of the repository, that releasing does what a user expects:
//
// 1. the publish guard (scripts/publish-guard.mjs) refuses npm, a dirty tree and a missing
//    build, and lets a clean, built pnpm publish through (all as --dry-run: nothing is sent);
// 2. `changeset status` and `changeset version` plan the pending changesets as one lockstep
//    release of the fixed group (first release: 0.1.0 for every published package, never 1.0.0);
// 3. the packed manifests (`pnpm pack`, as `changeset publish` packs them) keep no `workspace:`
//    range, and each adapter's peer range on core is exactly the core released with it;
// 4. every tarball holds package.json, README.md, LICENSE, CHANGELOG.md and dist/ only;
// 5. a later core-only minor, then a core-only patch, move them all together: no adapter
//    ever jumps to a new major.
//
// Usage: node scripts/check-versioning.mjs (after `pnpm install` and `pnpm build`).
import { execFileSync, spawnSync } from "node:child_process";
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const CORE = "@sfn/channel-core";
// Every published (non-private) package under packages/: the release group.
const DIRS = {};
for (const d of readdirSync(join(root, "packages")).sort()) {
  const file = join(root, "packages", d, "package.json");
  if (!existsSync(file)) continue;
  const pkg = JSON.parse(readFileSync(file, "utf8"));
  if (!pkg.private) DIRS[pkg.name] = `packages/${d}`;
}
const GROUP = Object.keys(DIRS);
// Adapters: published packages that take core as a peer (they may reach into core/internal).
const ADAPTERS = GROUP.filter((name) => JSON.parse(readFileSync(join(root, DIRS[name], "package.json"), "utf8")).peerDependencies?.[CORE]);
const ALLOWED_TOP = new Set(["package.json", "README.md", "LICENSE", "CHANGELOG.md"]);
const changesetBin = join(root, "node_modules/.bin/changeset");

let failures = 0;
const ok = (msg) => console.log(`  ok   ${msg}`);
const fail = (msg) => {
  failures++;
  console.log(`  FAIL ${msg}`);
};
const check = (cond, msg) => (cond ? ok(msg) : fail(msg));

const tmp = mkdtempSync(join(tmpdir(), "sfn-versioning-"));
const run = (cmd, args, cwd, env = {}) =>
  spawnSync(cmd, args, { cwd, encoding: "utf8", env: { ...process.env, FORCE_COLOR: "0", ...env } });
const git = (args, cwd = tmp) =>
  execFileSync("git", ["-c", "user.email=check@sfn.invalid", "-c", "user.name=check-versioning", ...args], { cwd, stdio: "pipe" });
const readJson = (p) => JSON.parse(readFileSync(p, "utf8"));
const version = (name) => readJson(join(tmp, DIRS[name], "package.json")).version;

try {
  // ---- the copy: the working tree's files, each package's node_modules links and dist; the
  // root node_modules is linked, not copied (the package links resolve through it).
  const files = execFileSync("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], { cwd: root, encoding: "utf8" })
    .split("\0")
    .filter((f) => f && existsSync(join(root, f)));
  for (const f of files) {
    mkdirSync(dirname(join(tmp, f)), { recursive: true });
    cpSync(join(root, f), join(tmp, f), { verbatimSymlinks: true });
  }
  symlinkSync(join(root, "node_modules"), join(tmp, "node_modules"));
  for (const parent of ["packages", "apps", "examples"]) {
    for (const d of readdirSync(join(root, parent))) {
      for (const sub of ["node_modules", "dist"]) {
        const from = join(root, parent, d, sub);
        if (existsSync(from)) cpSync(from, join(tmp, parent, d, sub), { recursive: true, verbatimSymlinks: true });
      }
    }
  }
  for (const name of GROUP) {
    if (!existsSync(join(tmp, DIRS[name], "dist"))) throw new Error(`${name} is not built: run \`pnpm build\` first`);
  }
  git(["init", "-q", "-b", "main"]);
  git(["add", "-A"]);
  git(["commit", "-q", "-m", "copy"]);

  console.log("the release group");
  const fixed = readJson(join(tmp, ".changeset/config.json")).fixed ?? [];
  check(
    fixed.length === 1 && fixed[0].length === GROUP.length && GROUP.every((n) => fixed[0].includes(n)),
    `.changeset/config.json has one fixed group of every published package (${GROUP.join(", ")})`,
  );
  for (const name of ADAPTERS) {
    const peer = readJson(join(tmp, DIRS[name], "package.json")).peerDependencies[CORE];
    check(peer === "workspace:*", `${name}: peer ${CORE} is "workspace:*" (packed as the exact core version)`);
  }

  console.log("files every tarball needs");
  const license = readFileSync(join(root, "LICENSE"), "utf8");
  for (const name of GROUP) {
    const dir = join(tmp, DIRS[name]);
    check(
      existsSync(join(dir, "LICENSE")) && readFileSync(join(dir, "LICENSE"), "utf8") === license,
      `${name}: LICENSE is the root LICENSE`,
    );
    check(existsSync(join(dir, "README.md")) && existsSync(join(dir, "CHANGELOG.md")), `${name}: README.md and CHANGELOG.md exist`);
    const pkg = readJson(join(dir, "package.json"));
    check(pkg.scripts?.prepublishOnly === "node ../../scripts/publish-guard.mjs", `${name}: prepublishOnly runs the publish guard`);
    check(
      pkg.publishConfig?.access === "public" && pkg.publishConfig?.provenance === true,
      `${name}: publishConfig has public access and provenance`,
    );
    check(
      pkg.repository?.directory === DIRS[name] && !!pkg.homepage && !!pkg.bugs?.url,
      `${name}: repository (with directory), homepage and bugs`,
    );
  }

  // ---- 1. the publish guard, exercised through the real clients with --dry-run.
  console.log("publish guard (dry runs: nothing is sent)");
  const probe = join(tmp, DIRS[ADAPTERS[0] ?? CORE]);
  const publish = (client) =>
    client === "npm"
      ? run("npm", ["publish", "--dry-run", "--ignore-scripts=false"], probe)
      : run("pnpm", ["publish", "--dry-run", "--no-git-checks"], probe);
  const refused = (r, why) =>
    r.status !== 0 && `${r.stdout}${r.stderr}`.includes("publish refused") && `${r.stdout}${r.stderr}`.includes(why);
  let r = publish("npm");
  check(refused(r, "publish with pnpm"), "npm publish is refused (it would ship workspace: ranges)");
  r = publish("pnpm");
  check(r.status === 0, "pnpm publish from a clean, built tree passes the guard");
  if (r.status !== 0) console.log(r.stdout + r.stderr);
  writeFileSync(join(probe, "stray.txt"), "not committed\n");
  r = publish("pnpm");
  check(refused(r, "git tree is dirty"), "pnpm publish from a dirty tree is refused");
  rmSync(join(probe, "stray.txt"));
  renameSync(join(probe, "dist"), join(probe, "dist.moved"));
  r = publish("pnpm");
  check(refused(r, "no build"), "pnpm publish without a build is refused");
  renameSync(join(probe, "dist.moved"), join(probe, "dist"));

  // ---- 2-5. releases.
  const BUMPS = ["none", "patch", "minor", "major"];
  const inc = (v, type) => {
    const [maj, min, pat] = v.split(".").map(Number);
    if (type === "major") return `${maj + 1}.0.0`;
    if (type === "minor") return `${maj}.${min + 1}.0`;
    if (type === "patch") return `${maj}.${min}.${pat + 1}`;
    return v;
  };
  /** The highest bump any pending changeset asks of a package of the group. */
  const pendingBump = () => {
    let best = "none";
    const dir = join(tmp, ".changeset");
    for (const f of readdirSync(dir).filter((f) => f.endsWith(".md") && f !== "README.md")) {
      const front = readFileSync(join(dir, f), "utf8").split(/^---$/m)[1] ?? "";
      for (const m of front.matchAll(/^\s*["']?(@[^"':\s]+)["']?\s*:\s*(patch|minor|major)\s*$/gm)) {
        if (GROUP.includes(m[1]) && BUMPS.indexOf(m[2]) > BUMPS.indexOf(best)) best = m[2];
      }
    }
    return best;
  };

  const release = (label) => {
    console.log(label);
    const before = Object.fromEntries(GROUP.map((n) => [n, version(n)]));
    check(new Set(Object.values(before)).size === 1, `the group starts in lockstep (${Object.values(before).join(", ")})`);
    const bump = pendingBump();
    const expected = inc(before[CORE], bump);

    const statusFile = join(tmp, "status.json");
    r = run(changesetBin, ["status", `--output=${statusFile}`], tmp);
    if (r.status !== 0) fail(`changeset status failed:\n${r.stdout}${r.stderr}`);
    const plan = existsSync(statusFile) ? readJson(statusFile).releases : [];
    rmSync(statusFile, { force: true });
    for (const name of GROUP) {
      const planned = plan.find((p) => p.name === name)?.newVersion ?? before[name];
      check(planned === expected, `changeset status plans ${name} ${before[name]} -> ${planned} (expected ${expected})`);
    }

    r = run(changesetBin, ["version"], tmp);
    if (r.status !== 0) fail(`changeset version failed:\n${r.stdout}${r.stderr}`);
    for (const name of GROUP) {
      const now = version(name);
      check(now === expected, `changeset version: ${name} ${before[name]} -> ${now}`);
      check(now.split(".")[0] === before[name].split(".")[0] || bump === "major", `${name}: no new major without a major changeset`);
      if (bump !== "none")
        check(
          readFileSync(join(tmp, DIRS[name], "CHANGELOG.md"), "utf8").includes(`## ${now}`),
          `${name}: CHANGELOG.md has a ${now} section`,
        );
    }

    const packDir = join(tmp, ".packed");
    rmSync(packDir, { recursive: true, force: true });
    mkdirSync(packDir);
    for (const name of GROUP) {
      r = run("pnpm", ["pack", "--pack-destination", packDir, "--json"], join(tmp, DIRS[name]));
      if (r.status !== 0) {
        fail(`pnpm pack ${name} failed:\n${r.stdout}${r.stderr}`);
        continue;
      }
      const packed = JSON.parse(r.stdout);
      const names = packed.files.map((f) => f.path);
      const stray = names.filter((p) => !ALLOWED_TOP.has(p) && !p.startsWith("dist/"));
      check(
        stray.length === 0,
        `${name} tarball: only package.json, README.md, LICENSE, CHANGELOG.md and dist/${stray.length ? ` (also: ${stray.join(", ")})` : ""}`,
      );
      const missing = [...ALLOWED_TOP].filter((f) => !names.includes(f));
      check(
        missing.length === 0 && names.some((p) => p.startsWith("dist/")),
        `${name} tarball: holds ${[...ALLOWED_TOP].join(", ")} and dist/${missing.length ? ` (missing: ${missing.join(", ")})` : ""}`,
      );
      const manifest = JSON.parse(execFileSync("tar", ["-xzOf", packed.filename, "package/package.json"], { encoding: "utf8" }));
      check(!JSON.stringify(manifest).includes("workspace:"), `${name} packed manifest: no workspace: range left`);
      check(manifest.version === expected, `${name} packed manifest: version ${manifest.version}`);
      if (ADAPTERS.includes(name)) {
        const peer = manifest.peerDependencies?.[CORE];
        check(peer === version(CORE), `${name} packed manifest: peer @sfn/channel-core is exactly "${peer}" (the core of this release)`);
        check(!manifest.dependencies?.[CORE], `${name} packed manifest: core is a peer, not a dependency`);
      }
    }
    rmSync(packDir, { recursive: true, force: true });
  };

  release("release of the pending changesets");
  writeFileSync(join(tmp, ".changeset/check-core-minor.md"), '---\n"@sfn/channel-core": minor\n---\n\nA core-only feature.\n');
  release("then a core-only minor");
  writeFileSync(join(tmp, ".changeset/check-core-patch.md"), '---\n"@sfn/channel-core": patch\n---\n\nA core-only fix.\n');
  release("then a core-only patch");
} catch (error) {
  fail(error.stack ?? String(error));
} finally {
  rmSync(tmp, { recursive: true, force: true });
}

console.log(failures === 0 ? "versioning check passed" : `versioning check: ${failures} failure(s)`);
process.exit(failures === 0 ? 0 : 1);
