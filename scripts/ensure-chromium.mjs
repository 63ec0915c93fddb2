// The demo's end-to-end test drives Debian's Chromium through playwright-core (no browser
// download). Installs it with apt-get when missing and this is a root shell on Debian.
import { existsSync } from "node:fs";
import { spawnSync } from "node:child_process";

export function ensureChromium() {
  const path = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
  if (existsSync(path)) return true;
  const root = typeof process.getuid === "function" && process.getuid() === 0;
  const apt = spawnSync("apt-get", ["--version"]).status === 0;
  if (!root || !apt) {
    console.error(`Chromium not found at ${path}: install it (Debian: apt-get install chromium) or set CHROMIUM_PATH.`);
    return false;
  }
  console.log("installing Debian's chromium for the browser tests (apt-get)...");
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  spawnSync("apt-get", ["update", "-qq"], { stdio: "inherit", env });
  spawnSync("apt-get", ["install", "-y", "-qq", "chromium"], { stdio: "inherit", env });
  return existsSync(path);
}
