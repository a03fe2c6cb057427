// Trunk post-build hook: minifies wasm-bindgen's JS glue in release builds.
//
// Trunk's own JS minifier (minify-js 0.5) cannot parse the glue's `export default` and ships
// it untouched (trunk-rs/trunk#1044), so terser (npm, pinned and installed into target/tools
// by `cargo xtask`) minifies it here, and the glue's integrity hash in index.html follows.
//
// First it drops the glue's classes for wasm-streams' exports (`IntoUnderlying*`, compiled in
// through Leptos's server_fn and never used by the page). wasm-opt removes those exports from
// the module (`--remove-exports` in index.html), so the classes would only call functions that
// no longer exist; without them terser can drop their helpers too.
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

if (process.env.TRUNK_PROFILE !== "release") process.exit(0);

const DEAD_CLASS = /^export class (IntoUnderlying\w+) \{\n[\s\S]*?^\}\n/gm;

/** The glue without the dead classes, their dispose lines and finalization registries. */
function withoutDeadClasses(glue, name) {
  const names = [...glue.matchAll(DEAD_CLASS)].map((m) => m[1]);
  let out = glue.replace(DEAD_CLASS, "");
  for (const cls of names) {
    const dispose = `if (Symbol.dispose) ${cls}.prototype[Symbol.dispose] = ${cls}.prototype.free;\n`;
    const registry = new RegExp(`^const ${cls}Finalization = [^;]*;\n`, "m");
    if (!out.includes(dispose) || !registry.test(out)) {
      console.error(`minify-glue: ${name} no longer has ${cls}'s glue in the expected shape`);
      process.exit(1);
    }
    out = out.replace(dispose, "").replace(registry, "");
    if (out.includes(cls)) {
      console.error(`minify-glue: ${name} still uses ${cls} after its class was dropped`);
      process.exit(1);
    }
  }
  if (/IntoUnderlying/.test(out)) {
    console.error(`minify-glue: ${name} has IntoUnderlying* glue in a shape this hook does not know`);
    process.exit(1);
  }
  return out;
}

const staging = process.env.TRUNK_STAGING_DIR;
// Found from this file, not the working directory: bench/floor runs this hook too.
const terserDir = resolve(
  dirname(fileURLToPath(import.meta.url)),
  "../../target/tools/terser/node_modules/terser",
);
let minify;
try {
  ({ minify } = createRequire(join(terserDir, "package.json"))(terserDir));
} catch {
  console.error(
    `minify-glue: terser is missing from ${terserDir}; \`cargo xtask serve|test|bench\` installs it`,
  );
  process.exit(1);
}

const sri = (bytes) => "sha384-" + createHash("sha384").update(bytes).digest("base64");
const indexPath = join(staging, "index.html");
let index = readFileSync(indexPath, "utf8");
const glue = readdirSync(staging).filter((f) => f.endsWith(".js"));
if (glue.length === 0) {
  console.error(`minify-glue: no .js file in ${staging}`);
  process.exit(1);
}
for (const name of glue) {
  const path = join(staging, name);
  const source = readFileSync(path);
  const result = await minify(withoutDeadClasses(source.toString("utf8"), name), {
    module: true,
    ecma: 2020,
    compress: { passes: 2 },
    mangle: true,
    format: { comments: false },
  });
  const before = sri(source);
  const after = sri(result.code);
  if (!index.includes(before)) {
    console.error(`minify-glue: index.html has no integrity ${before} for ${name}`);
    process.exit(1);
  }
  writeFileSync(path, result.code);
  index = index.split(before).join(after);
  console.log(`minify-glue: ${name} ${source.length} -> ${Buffer.byteLength(result.code)} bytes`);
}
writeFileSync(indexPath, index);
