// ONNX Runtime (CPU) side of examples/benchmark: times the inference graph
// that torch_bench.py --export-onnx wrote, through onnxruntime-node's CPU
// library with every graph optimisation on.
//
//     NODE_PATH=DIR/node_modules node ort_bench.js --model m.onnx --batch 1 --size 256 \
//         --reps 3 --warmup 1 --threads 2
//
// Prints one JSON object: infer_s (median of --reps runs after --warmup),
// infer_all_s, load_s (creating the session: reading the model and
// optimising the graph), peak_mib (this process's peak RSS) and the
// library's version. With --reps 0 it loads and runs one image only: the
// whole-process measurement, timed from outside by the caller. --input
// reads the image (raw little-endian float32, NCHW) instead of making one,
// and --output writes the last run's restored image the same way.
"use strict";

const fs = require("fs");
const ort = require("onnxruntime-node");

function args(argv) {
  const a = { batch: 1, size: 64, reps: 3, warmup: 1, threads: 2, model: "", input: "", output: "" };
  const text = new Set(["model", "input", "output"]);
  for (let i = 0; i < argv.length; i += 2) {
    const k = argv[i].replace(/^--/, "");
    if (!(k in a) || i + 1 >= argv.length) {
      throw new Error(`unknown or incomplete flag ${argv[i]}`);
    }
    a[k] = text.has(k) ? argv[i + 1] : Number(argv[i + 1]);
  }
  if (!a.model) throw new Error("--model is required");
  return a;
}

async function main() {
  const a = args(process.argv.slice(2));
  let t = performance.now();
  const session = await ort.InferenceSession.create(a.model, {
    executionProviders: ["cpu"],
    graphOptimizationLevel: "all",
    executionMode: "sequential",
    intraOpNumThreads: a.threads,
    interOpNumThreads: 1,
  });
  const loadS = (performance.now() - t) / 1000;
  // a fixed pseudo-random image in [0, 1): the time does not depend on it
  const n = a.batch * 3 * a.size * a.size;
  let img = new Float32Array(n);
  if (a.input) {
    const buf = fs.readFileSync(a.input);
    if (buf.length !== 4 * n) throw new Error(`${a.input}: ${buf.length} bytes, want ${4 * n}`);
    img = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length));
  } else {
    let s = 1;
    for (let i = 0; i < n; i++) {
      s = (s * 1103515245 + 12345) >>> 0;
      img[i] = s / 4294967296;
    }
  }
  const feeds = { x: new ort.Tensor("float32", img, [a.batch, 3, a.size, a.size]) };
  let last;
  const run = async () => {
    const t0 = performance.now();
    const out = await session.run(feeds);
    const dt = (performance.now() - t0) / 1000;
    if (out.y.data.length !== n) throw new Error(`output has ${out.y.data.length} values, want ${n}`);
    last = out.y.data;
    return dt;
  };
  const all = [];
  if (a.reps === 0) {
    all.push(await run());
  } else {
    for (let i = 0; i < a.warmup; i++) await run();
    for (let i = 0; i < a.reps; i++) all.push(await run());
  }
  if (a.output) fs.writeFileSync(a.output, Buffer.from(last.buffer, last.byteOffset, last.byteLength));
  const sorted = [...all].sort((x, y) => x - y);
  console.log(JSON.stringify({
    ort: ort.env.versions ? ort.env.versions.common : "",
    threads: a.threads,
    load_s: loadS,
    infer_s: sorted[Math.floor(sorted.length / 2)],
    infer_all_s: all,
    peak_mib: process.resourceUsage().maxRSS / 1024, // KiB
  }));
}

main().catch((e) => {
  console.error(`ort_bench: ${e.message}`);
  process.exit(1);
});
