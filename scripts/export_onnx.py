#!/usr/bin/env python3
"""Export a BERT checkpoint (config.json + model.safetensors) to ONNX, for the side-by-side
benchmark against ONNX Runtime Web (scripts/bench_browser.js).

The graph is written node by node with `onnx.helper`, in the shape PyTorch's exporter gives
`BertModel` (opset 17: Gather embeddings, LayerNormalization, MatMul + Add with the weights
transposed, Erf GELU, a [B, 1, 1, T] additive mask, Softmax attention), so that ONNX Runtime applies
the same fusions (Attention, BiasGelu, SkipLayerNorm) it applies to the models transformers.js
ships. Not through torch.onnx: torch from PyPI is gigabytes; numpy, safetensors, onnx and
onnxruntime are 60 MB.

    python3 -m venv tools/onnx-venv
    tools/onnx-venv/bin/pip install numpy safetensors onnx==1.23.2 onnxruntime==1.32.0
    tools/onnx-venv/bin/python scripts/export_onnx.py models/all-MiniLM-L6-v2 tools/onnx/model.onnx

Inputs `input_ids`, `attention_mask`, `token_type_ids` (int64, [batch, tokens]); output
`last_hidden_state` (float32, [batch, tokens, hidden]), as transformers.js's feature extraction
reads it. The export is checked against the PyTorch reference outputs the Rust tests use
(tests/fixtures/minilm_reference.*) when the checkpoint is all-MiniLM-L6-v2: it fails above 1e-5.
"""
import hashlib
import json
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from safetensors.numpy import load_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def build(folder):
    config = json.load(open(os.path.join(folder, "config.json")))
    if config.get("hidden_act", "gelu") != "gelu":
        sys.exit(f"{folder}/config.json: hidden_act {config['hidden_act']!r}; this export writes BERT's exact (erf) GELU only")
    weights = load_file(os.path.join(folder, "model.safetensors"))
    prefix = "bert." if any(k.startswith("bert.") for k in weights) else ""

    def w(name):
        key = prefix + name
        if key not in weights:
            sys.exit(f"{folder}/model.safetensors: missing tensor {key}")
        return weights[key].astype(np.float32)

    hidden, heads = config["hidden_size"], config["num_attention_heads"]
    head_dim = hidden // heads
    eps = float(config.get("layer_norm_eps", 1e-12))
    nodes, inits = [], []
    counter = [0]

    def name(base):
        counter[0] += 1
        return f"{base}_{counter[0]}"

    def const(base, array):
        n = name(base)
        inits.append(numpy_helper.from_array(np.asarray(array), n))
        return n

    def node(op, inputs, base=None, **attrs):
        out = name(base or op)
        nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    def linear(x, pre):
        # nn.Linear as torch exports it: MatMul by the transposed weight, then Add the bias.
        y = node("MatMul", [x, const(pre + ".weight", w(pre + ".weight").T.copy())])
        return node("Add", [y, const(pre + ".bias", w(pre + ".bias"))])

    def layer_norm(x, pre):
        return node("LayerNormalization", [x, const(pre + ".weight", w(pre + ".weight")), const(pre + ".bias", w(pre + ".bias"))], axis=-1, epsilon=eps)

    # Embeddings: word + position (0..T) + token type, then LayerNorm.
    seq = node("Gather", [node("Shape", ["input_ids"]), const("one", np.array(1, dtype=np.int64))], axis=0)
    positions = node("Range", [const("zero", np.array(0, dtype=np.int64)), seq, const("step", np.array(1, dtype=np.int64))])
    x = node("Gather", [const("word_embeddings", w("embeddings.word_embeddings.weight")), "input_ids"])
    x = node("Add", [x, node("Gather", [const("position_embeddings", w("embeddings.position_embeddings.weight")), positions])])
    x = node("Add", [x, node("Gather", [const("token_type_embeddings", w("embeddings.token_type_embeddings.weight")), "token_type_ids"])])
    x = layer_norm(x, "embeddings.LayerNorm")

    # HF's extended mask: (1 - mask) * finfo(float32).min, shaped [B, 1, 1, T].
    mask = node("Cast", [node("Unsqueeze", ["attention_mask", const("axes", np.array([1, 2], dtype=np.int64))])], to=TensorProto.FLOAT)
    mask = node("Mul", [node("Sub", [const("one_f", np.array(1.0, dtype=np.float32)), mask]), const("min", np.array(np.finfo(np.float32).min, dtype=np.float32))])
    split_heads = const("split_heads", np.array([0, 0, heads, head_dim], dtype=np.int64))
    merge_heads = const("merge_heads", np.array([0, 0, hidden], dtype=np.int64))
    sqrt_d = const("sqrt_d", np.array(np.sqrt(head_dim), dtype=np.float32))

    for i in range(config["num_hidden_layers"]):
        pre = f"encoder.layer.{i}."

        def heads_of(t, perm):
            return node("Transpose", [node("Reshape", [t, split_heads])], perm=perm)

        q = heads_of(linear(x, pre + "attention.self.query"), [0, 2, 1, 3])
        k = heads_of(linear(x, pre + "attention.self.key"), [0, 2, 3, 1])
        v = heads_of(linear(x, pre + "attention.self.value"), [0, 2, 1, 3])
        scores = node("Add", [node("Div", [node("MatMul", [q, k]), sqrt_d]), mask])
        probs = node("Softmax", [scores], axis=-1)
        context = node("Reshape", [node("Transpose", [node("MatMul", [probs, v])], perm=[0, 2, 1, 3]), merge_heads])
        attention = layer_norm(node("Add", [linear(context, pre + "attention.output.dense"), x]), pre + "attention.output.LayerNorm")
        h = linear(attention, pre + "intermediate.dense")
        # GELU as torch exports it: x * 0.5 * (1 + erf(x / sqrt 2)).
        erf = node("Erf", [node("Div", [h, const("sqrt2", np.array(np.sqrt(2.0), dtype=np.float32))])])
        h = node("Mul", [node("Mul", [h, node("Add", [erf, const("one_g", np.array(1.0, dtype=np.float32))])]), const("half", np.array(0.5, dtype=np.float32))])
        x = layer_norm(node("Add", [linear(h, pre + "output.dense"), attention]), pre + "output.LayerNorm")

    nodes.append(helper.make_node("Identity", [x], ["last_hidden_state"], name="output"))
    dims = ["batch", "tokens"]
    inputs = [helper.make_tensor_value_info(n, TensorProto.INT64, dims) for n in ("input_ids", "attention_mask", "token_type_ids")]
    output = helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, dims + [hidden])
    graph = helper.make_graph(nodes, "bert", inputs, [output], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="undivided scripts/export_onnx.py")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def check(path, folder):
    """Largest difference from the PyTorch reference over the fixture's cases, full plan."""
    import onnxruntime as ort

    reference = json.load(open(os.path.join(ROOT, "tests", "fixtures", "minilm_reference.json")))
    sha = hashlib.sha256(open(os.path.join(folder, "model.safetensors"), "rb").read()).hexdigest()
    if sha != reference["model_safetensors_sha256"]:
        print("not the reference checkpoint: output check skipped")
        return None
    outputs = load_file(os.path.join(ROOT, "tests", "fixtures", "minilm_reference.safetensors"))
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    worst = 0.0
    for case in reference["cases"]:
        feed = {k: np.array([case[k]], dtype=np.int64) for k in ("input_ids", "attention_mask", "token_type_ids")}
        got = session.run(["last_hidden_state"], feed)[0][0]
        worst = max(worst, float(np.abs(got - outputs[f"{case['name']}.all.last_hidden_state"]).max()))
    return worst


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: export_onnx.py CHECKPOINT_FOLDER OUT.onnx")
    folder, out = sys.argv[1], sys.argv[2]
    model = build(folder)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    onnx.save(model, out)
    print(f"wrote {out} ({os.path.getsize(out) / 1e6:.1f} MB, {len(model.graph.node)} nodes)")
    worst = check(out, folder)
    if worst is not None:
        print(f"largest difference from PyTorch's last_hidden_state over the reference cases: {worst:.2e}")
        if worst > 1e-5:
            sys.exit("the export does not match PyTorch")


if __name__ == "__main__":
    main()
