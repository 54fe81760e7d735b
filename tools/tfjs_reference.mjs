// Reference outputs of TF.js layers models from TensorFlow.js itself (npm
// @tensorflow/tfjs, pure-JS CPU backend), for tests/models/test_nsfwjs.c.
//
//   node tools/tfjs_reference.mjs MODEL_DIR OUT_PREFIX [FEATURE_LAYER [HIDDEN_LAYER LOGITS_LAYER]]
//   node tools/tfjs_reference.mjs --synthetic MODEL_DIR   (writes the small test model, below)
//
// Loads MODEL_DIR/model.json and its shards from the filesystem through a
// custom IOHandler (no fetch, no tfjs-node), feeds the deterministic input
// below and writes
//   OUT_PREFIX.json          probabilities (model output), logits, and metadata
//   OUT_PREFIX.features.f32  the FEATURE_LAYER output, raw little-endian f32
// The logits are the pre-softmax output of LOGITS_LAYER (a Dense with softmax
// activation): TF.js's matMul of HIDDEN_LAYER's output (a truncated model,
// tf.model({inputs, outputs: layer.output})) with LOGITS_LAYER's kernel, plus
// its bias. Defaults (the nsfwjs head): flatten_1, dense_2, dense_3.
//
// Input (NHWC, one image, H×W×3; integer arithmetic, one IEEE double division,
// then rounding to f32, so C computes bit-identical values):
//   P = 97, n1 = 3h + 2w + 23c, n2 = h + 5w + 41c + 11
//   x[h][w][c] = (3·|2·(n1 mod P) − P| + 2·|2·(n2 mod P) − P|) / (5·P)      ∈ [0, 1]
// two triangle waves across the image (a smooth plaid, different per channel).
//
// @tensorflow/tfjs is resolved from $VIREO_TFJS_DIR/node_modules if set, else
// from the usual places (tools/node_modules, ...). Install it with
//   npm install --no-save --prefix /tmp/vireo-tfjs @tensorflow/tfjs@4.22.0
// (tests/data/nsfwjs/README.md lists the commands that regenerate the references).
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const req = createRequire(process.env.VIREO_TFJS_DIR
    ? path.join(path.resolve(process.env.VIREO_TFJS_DIR), 'noop.js')
    : import.meta.url);
const tf = req('@tensorflow/tfjs');

export function inputValue(h, w, c) {
  const P = 97;
  const n1 = 3 * h + 2 * w + 23 * c, n2 = h + 5 * w + 41 * c + 11;
  return (3 * Math.abs(2 * (n1 % P) - P) + 2 * Math.abs(2 * (n2 % P) - P)) / (5 * P);
}

function fsHandler(dir) {
  return {
    async load() {
      const mj = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
      const specs = [], parts = [];
      for (const g of mj.weightsManifest) {
        for (const p of g.paths) parts.push(fs.readFileSync(path.join(dir, p)));
        specs.push(...g.weights);
      }
      const all = Buffer.concat(parts);
      return {
        modelTopology: mj.modelTopology,
        format: mj.format,
        generatedBy: mj.generatedBy,
        convertedBy: mj.convertedBy,
        weightSpecs: specs,
        weightData: all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength),
      };
    },
  };
}

// A small functional model exercising what the nsfwjs models do not:
// asymmetric ZeroPadding2D, SAME convolutions of stride 2 on even sizes (TF
// pads the extra row/column after), dilation, BatchNormalization with and
// without scale (also after a Dense), activations fused into Add and Conv2D,
// SAME max/average pooling (the divisor counts in-image taps), Concatenate,
// a Dense over an image (per pixel), GlobalAveragePooling2D. Weights are
// float32 from a seeded generator (xorshift32); BN statistics are randomised
// too; two kernels are scaled up so that ReLU6 clips. Saved with tfjs-layers'
// own serialisation.
async function makeSynthetic(dir) {
  let s = 2463534242;
  const rnd = () => {
    s ^= s << 13, s >>>= 0, s ^= s >>> 17, s ^= s << 5, s >>>= 0;
    return s / 4294967296;
  };
  const L = tf.layers;
  const x = tf.input({ shape: [20, 18, 3], name: 'image' });
  const a = L.reLU({ maxValue: 6, name: 'a_relu6' }).apply(L.batchNormalization({ name: 'a_bn' }).apply(
      L.conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: 'valid', name: 'a_conv' }).apply(
          L.zeroPadding2d({ padding: [[0, 1], [1, 0]], name: 'a_pad' }).apply(x))));
  const b = L.activation({ activation: 'relu', name: 'b_relu' }).apply(
      L.batchNormalization({ scale: false, name: 'b_bn' }).apply(
          L.conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: 'same', useBias: false,
                     name: 'b_conv' }).apply(x)));
  const ab = L.reLU({ name: 'ab_relu' }).apply(L.add({ name: 'ab_add' }).apply([a, b]));
  const c = L.reLU({ maxValue: 6, name: 'c_relu6' }).apply(L.batchNormalization({ name: 'c_bn' }).apply(
      L.depthwiseConv2d({ kernelSize: 3, padding: 'same', name: 'c_dw' }).apply(ab)));
  const d = L.conv2d({ filters: 4, kernelSize: 3, dilationRate: 2, padding: 'same',
                       activation: 'relu', name: 'd_conv' }).apply(ab);
  const e = L.maxPooling2d({ poolSize: 3, strides: 1, padding: 'same', name: 'e_max' }).apply(ab);
  const f = L.averagePooling2d({ poolSize: 3, strides: 1, padding: 'same', name: 'f_avg' }).apply(ab);
  const cat = L.concatenate({ name: 'cat' }).apply([c, d, e, f]);
  const g = L.conv2d({ filters: 6, kernelSize: [3, 2], strides: 2, padding: 'same', name: 'g_conv' })
                .apply(cat);
  const h = L.dense({ units: 6, activation: 'relu', name: 'h_dense' }).apply(g);
  const p = L.averagePooling2d({ poolSize: 2, strides: 2, padding: 'same', name: 'p_avg' }).apply(h);
  const feat = L.globalAveragePooling2d({ name: 'features' }).apply(p);
  const hid = L.reLU({ name: 'hidden' }).apply(L.batchNormalization({ name: 'pre_bn' }).apply(
      L.dense({ units: 5, name: 'pre' }).apply(L.dropout({ rate: 0.5, name: 'drop' }).apply(feat))));
  const out = L.dense({ units: 3, activation: 'softmax', name: 'logits' }).apply(hid);
  const model = tf.model({ inputs: x, outputs: out, name: 'synthetic' });
  for (const layer of model.layers) {
    const ws = layer.getWeights();
    if (!ws.length) continue;
    layer.setWeights(ws.map((w, i) => {
      const n = w.size, v = new Float32Array(n);
      const wn = layer.weights[i].originalName || layer.weights[i].name;
      const positive = /moving_variance|gamma/.test(wn);
      const big = /a_conv\/kernel|c_dw\/depthwise_kernel/.test(wn); // so ReLU6 clips
      for (let k = 0; k < n; k++) v[k] = positive ? 0.5 + rnd() : (rnd() - 0.5) * (big ? 4 : 1);
      return tf.tensor(v, w.shape);
    }));
  }
  fs.mkdirSync(dir, { recursive: true });
  await model.save(tf.io.withSaveHandler(async (art) => {
    fs.writeFileSync(path.join(dir, 'weights.bin'), Buffer.from(art.weightData));
    const mj = {
      format: 'layers-model',
      generatedBy: 'TensorFlow.js tfjs-layers v' + tf.version.tfjs + ' (tools/tfjs_reference.mjs)',
      convertedBy: null,
      modelTopology: art.modelTopology,
      weightsManifest: [{ paths: ['weights.bin'], weights: art.weightSpecs }],
    };
    fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify(mj) + '\n');
    return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
  }));
}

async function main() {
  if (process.argv[2] === '--synthetic') {
    if (!process.argv[3]) {
      console.error('usage: node tools/tfjs_reference.mjs --synthetic MODEL_DIR');
      process.exit(2);
    }
    await tf.setBackend('cpu');
    await makeSynthetic(process.argv[3]);
    console.log('wrote ' + process.argv[3] + '/model.json, weights.bin');
    return;
  }
  const [dir, prefix, featName = 'flatten_1', hidName = 'dense_2', logName = 'dense_3'] =
      process.argv.slice(2);
  if (!dir || !prefix) {
    console.error('usage: node tools/tfjs_reference.mjs MODEL_DIR OUT_PREFIX ' +
                  '[FEATURE_LAYER [HIDDEN_LAYER LOGITS_LAYER]]');
    process.exit(2);
  }
  await tf.setBackend('cpu');
  const model = await tf.loadLayersModel(fsHandler(dir));
  const [, H, W, C] = model.inputs[0].shape;
  const x = new Float32Array(H * W * C);
  for (let h = 0; h < H; h++)
    for (let w = 0; w < W; w++)
      for (let c = 0; c < C; c++) x[(h * W + w) * C + c] = inputValue(h, w, c);
  const input = tf.tensor4d(x, [1, H, W, C]);

  const t0 = Date.now();
  const probs = Array.from(await model.predict(input).data());
  const ms = Date.now() - t0;
  const feat = model.getLayer(featName), hid = model.getLayer(hidName), lg = model.getLayer(logName);
  const trunc = tf.model({ inputs: model.inputs, outputs: [feat.output, hid.output] });
  const [ft, ht] = trunc.predict(input);
  const [kernel, bias] = lg.getWeights();
  const logits = Array.from(await tf.add(tf.matMul(ht, kernel), bias).data());
  const features = await ft.data();

  fs.writeFileSync(prefix + '.features.f32', Buffer.from(new Float32Array(features).buffer));
  const meta = {
    source: 'TensorFlow.js ' + tf.version.tfjs + ', backend ' + tf.getBackend(),
    model: path.basename(path.resolve(dir)),
    input: { h: H, w: W, c: C, formula: 'tools/tfjs_reference.mjs inputValue' },
    input_checksum: x.reduce((a, v) => a + v, 0),
    features: { layer: featName, dim: features.length, file: path.basename(prefix) + '.features.f32' },
    logits_layer: logName,
    logits,
    probs,
  };
  fs.writeFileSync(prefix + '.json', JSON.stringify(meta, null, 1) + '\n');
  console.log(`${meta.model}: ${H}x${W}x${C}, features ${features.length}, probs ${probs.map(
      (v) => v.toFixed(6)).join(' ')} (${ms} ms)`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
