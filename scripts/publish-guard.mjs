// `prepublishOnly` of every published package: refuses, before anything is sent to the
// registry, a publish that would ship a broken or unreviewed tarball.
//
// - with npm (or yarn) instead of pnpm: only pnpm replaces the `workspace:` ranges, and a
//   tarball that keeps them cannot be installed (EUNSUPPORTEDPROTOCOL);
// - from a dirty git tree: what is published must be what is committed;
// - without a build, or with a build older than the sources: `files` is `dist`.
//
// Runs in the package's folder (npm and pnpm run lifecycle scripts there). Exit code 1 and
// one line per reason on stderr; nothing on success.
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";

const pkgDir = process.cwd();
const pkg = JSON.parse(readFileSync(join(pkgDir, "package.json"), "utf8"));
const problems = [];

const agent = process.env.npm_config_user_agent ?? "";
if (!agent.startsWith("pnpm/")) {
  problems.push(
    `publish with pnpm (releases go out from CI: \`changeset publish\` runs \`pnpm publish\`), not with "${agent.split(" ")[0] || "an unknown client"}": ` +
      "only pnpm turns the `workspace:` ranges into versions, and a tarball that keeps them does not install",
  );
}

{
  let dirty;
  try {
    dirty = execFileSync("git", ["status", "--porcelain", "--untracked-files=normal"], { cwd: pkgDir, encoding: "utf8" });
  } catch (error) {
    problems.push(`cannot read the git state (${error.message.split("\n")[0]}): publish from a clone of the repository`);
  }
  if (dirty) {
    const lines = dirty.trimEnd().split("\n");
    problems.push(
      `the git tree is dirty (${lines.length} path${lines.length === 1 ? "" : "s"}: ${lines.slice(0, 5).join(", ")}${lines.length > 5 ? ", …" : ""}): commit or remove them first`,
    );
  }
}

/** Every file the `exports` map (and main/module/types) points to. */
function exportTargets(value, out = new Set()) {
  if (typeof value === "string") {
    if (value.startsWith("./dist/")) out.add(value);
  } else if (value && typeof value === "object") {
    for (const v of Object.values(value)) exportTargets(v, out);
  }
  return out;
}
const targets = exportTargets([pkg.exports, pkg.main, pkg.module, pkg.types]);
const missing = [...targets].filter((t) => !existsSync(join(pkgDir, t)));
if (targets.size === 0 || missing.length > 0) {
  problems.push(`no build: ${missing.join(", ") || "no dist entry in package.json"} missing; run \`pnpm build\` first`);
} else {
  const newest = (dir) => {
    let t = 0;
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, entry.name);
      t = Math.max(t, entry.isDirectory() ? newest(p) : statSync(p).mtimeMs);
    }
    return t;
  };
  const built = Math.min(...[...targets].map((t) => statSync(join(pkgDir, t)).mtimeMs));
  const src = join(pkgDir, "src");
  if (existsSync(src) && newest(src) > built) {
    problems.push(`the build in dist/ is older than ${relative(process.cwd(), src)}/: run \`pnpm build\` first`);
  }
}

if (problems.length > 0) {
  console.error(`\n${pkg.name}: publish refused, nothing was sent:`);
  for (const p of problems) console.error(`  - ${p}`);
  console.error("");
  process.exit(1);
}
