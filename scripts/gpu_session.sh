#!/bin/bash
# The GPU figures of docs/benchmarks.md in one script: undivided on a real GPU (`--device wgpu`).
#
#   BIN=target/debug/undivided MODEL=default DATA=../shared/glue/SST-2 OUT=runs/gpu scripts/gpu_session.sh
#
# MODE=compare (the default; a few minutes): issue 23's side-by-side. For every plan (all, 0,5,
# none), ROUNDS times alternating: `bench` inference (32 × INFER_LEN=128 and DATA's dev set with dynamic
# padding) and `bench --train` (32 × 64) on $DEV, each printing the kernel launches of one pass
# or step; then PyTorch on the same batches (`scripts/bench_pytorch.py` and
# `bench_train_pytorch.py`, `--device cuda` when torch sees a GPU, else the CPU). Then inference
# once more in half precision on both sides (`--precision f16`, where the adapter has f16; PyTorch
# only on CUDA). Everything lands in $OUT/compare.txt.
#
# MODE=study: `undivided study $SPEC --device $DEV` (default studies/glue4.json, TASKS / ROUTES
# pass --tasks / --routes), stopped with Ctrl-C after WALL seconds if set; its runs resume.
#
# MODE=pipeline: the SST-2 pipeline measured on the H200 (docs/benchmarks.md):
# 0. `bench --train` (full, 0,5, none) and the PyTorch CUDA baseline on the same fixed batches
# A. side by side on the one GPU: the full model fine-tuned one epoch (the teacher), and the `0,5`
#    and `none` students healed for one pass over the task's sentences
# B. both healed students fine-tuned with layer-to-layer distillation from the teacher, EPOCHS epochs
#
# ROUTE=finetuned instead cuts the students from the fine-tuned teacher (docs/benchmarks.md, "Cut
# from the fine-tuned full model"): A runs the teacher alone, then heals both students from it
# (HEAL_STEPS steps, default 1000, lr 2e-4), and B fine-tunes them at lr 3e-5.
#
# WALL=seconds stops phase B with Ctrl-C (the runs keep their best checkpoint and can be resumed)
# for machines lent for a fixed time. The runs are small enough to share the GPU: each one is
# bound by kernel launches, not by the GPU's arithmetic.
set -u
S=$(date +%s)
BIN=${BIN:-target/debug/undivided}; MODEL=${MODEL:-default}; DATA=${DATA:-../shared/glue/SST-2}
O=${OUT:-runs/gpu}; EPOCHS=${EPOCHS:-1}; DEV=${DEV:-wgpu}; ROUTE=${ROUTE:-pretrained}; MODE=${MODE:-compare}
case "$ROUTE" in pretrained|finetuned) ;; *) echo "ROUTE: expected pretrained or finetuned, got $ROUTE" >&2; exit 2 ;; esac
case "$MODE" in compare|study|pipeline) ;; *) echo "MODE: expected compare, study or pipeline, got $MODE" >&2; exit 2 ;; esac
mkdir -p "$O"
log() { echo "[$(( $(date +%s) - S ))s] $*" | tee -a "$O/summary.txt"; }
[ "$MODEL" = default ] && M=models/all-MiniLM-L6-v2 || M=$MODEL
TORCH_DEV=cpu
python3 -c "import torch, transformers; assert torch.cuda.is_available()" 2>/dev/null && TORCH_DEV=cuda

if [ "$MODE" = compare ]; then
  PLANS=${PLANS:-"all;0,5;none"}; ITERS=${BENCH_ITERS:-20}; LEN=${INFER_LEN:-128}
  for r in $(seq ${ROUNDS:-2}); do
    log "round $r: undivided on $DEV"
    "$BIN" bench "$MODEL" --plans "$PLANS" --seq-len $LEN --iters $ITERS --device $DEV --data "$DATA/dev.tsv" 2>&1 | tee -a "$O/compare.txt"
    [ "${PIPESTATUS[0]}" = 0 ] || { log "bench failed on $DEV: is there a GPU and a Vulkan driver?"; exit 1; }
    "$BIN" bench "$MODEL" --train --plans "$PLANS" --seq-len 64 --iters $ITERS --device $DEV 2>&1 | tee -a "$O/compare.txt"
    if python3 -c "import torch, transformers" 2>/dev/null; then
      log "round $r: PyTorch on $TORCH_DEV"
      python3 scripts/bench_pytorch.py --model "$M" --plans "$PLANS" --seq-len $LEN --iters $ITERS --device $TORCH_DEV --data "$DATA/dev.tsv" 2>&1 \
        | grep -Ev 'Loading weights|^$' | tee -a "$O/compare.txt"
      python3 scripts/bench_train_pytorch.py --model "$M" --plans "$PLANS" --seq-len 64 --iters $ITERS --device $TORCH_DEV 2>&1 \
        | grep -E '^(torch|plan|all|none|[0-9,]+ )' | tee -a "$O/compare.txt"
    else
      log "no torch + transformers in python3: PyTorch's side skipped"
    fi
  done
  log "f16 inference: undivided on $DEV"
  "$BIN" bench "$MODEL" --plans "$PLANS" --seq-len $LEN --iters $ITERS --device $DEV --precision f16 --data "$DATA/dev.tsv" 2>&1 | tee -a "$O/compare.txt"
  [ "${PIPESTATUS[0]}" = 0 ] || log "no f16 inference on $DEV (the refusal above says why)"
  if [ "$TORCH_DEV" = cuda ]; then
    python3 scripts/bench_pytorch.py --model "$M" --plans "$PLANS" --seq-len $LEN --iters $ITERS --device cuda --precision f16 --data "$DATA/dev.tsv" 2>&1 \
      | grep -Ev 'Loading weights|^$' | tee -a "$O/compare.txt"
  fi
  log "compare done: $O/compare.txt"
  exit 0
fi

if [ "$MODE" = study ]; then
  args=(study "${SPEC:-studies/glue4.json}" --out "$O/study" --device $DEV)
  [ -n "${TASKS:-}" ] && args+=(--tasks "$TASKS")
  [ -n "${ROUTES:-}" ] && args+=(--routes "$ROUTES")
  "$BIN" "${args[@]}" > "$O/study.log" 2>&1 &
  pid=$!
  if [ -n "${WALL:-}" ]; then
    while kill -0 $pid 2> /dev/null; do
      [ $(( $(date +%s) - S )) -ge "$WALL" ] && { log "out of time: interrupting the study (its runs resume)"; kill -INT $pid; break; }
      sleep 2
    done
  fi
  wait $pid; rc=$?
  log "study exit $rc: $O/study/study.md"
  exit $rc
fi

"$BIN" bench "$MODEL" --train --plans "all;0,5;none" --seq-len 64 --iters ${BENCH_ITERS:-20} --device $DEV \
  --data "$DATA/dev.tsv" 2>&1 | tee "$O/bench.txt"
[ "${PIPESTATUS[0]}" = 0 ] || { log "bench failed on $DEV: is there a GPU and a Vulkan driver?"; exit 1; }
if [ "$DEV" = wgpu ] && [ "$TORCH_DEV" = cuda ]; then
  python3 scripts/bench_train_pytorch.py --model "$M" --device cuda --seq-len 64 --iters ${BENCH_ITERS:-20} 2>&1 \
    | grep -E '^(torch|plan|all|none|[0-9,]+ )' | tee "$O/pytorch.txt"
fi
log "bench done"

"$BIN" finetune "$MODEL" --data "$DATA" --epochs 1 --max-len 64 --eval-every 500 --device $DEV --out "$O/full" > "$O/full.log" 2>&1 &
if [ "$ROUTE" = finetuned ]; then
  wait
  [ -f "$O/full/results.json" ] || { log "full failed: see $O/full.log"; exit 1; }
  log "teacher done"
  heal_from=("$O/full" --heal-steps ${HEAL_STEPS:-1000} --heal-lr 0.0002); student_lr=3e-5
else
  heal_from=("$MODEL" --heal-epochs 1); student_lr=5e-5
fi
for p in 0,5 none; do
  "$BIN" heal "${heal_from[@]}" --keep-ffn $p --text "$DATA" --device $DEV --out "$O/heal-${p/,/_}" > "$O/heal-${p/,/_}.log" 2>&1 &
done
wait
log "phase A done"
for d in full heal-0_5 heal-none; do [ -f "$O/$d/config.json" ] || { log "$d failed: see $O/$d.log"; exit 1; }; done

students=()
for p in 0_5 none; do
  "$BIN" finetune "$O/heal-$p" --data "$DATA" --epochs $EPOCHS --max-len 64 --lr $student_lr --eval-every 500 --teacher "$O/full" \
    --distill-hidden 1 --distill-attention 1 --device $DEV --out "$O/ld-$p" > "$O/ld-$p.log" 2>&1 &
  students+=($!)
done
if [ -n "${WALL:-}" ]; then
  alive() { for p in "${students[@]}"; do kill -0 $p 2> /dev/null && return 0; done; return 1; }
  while alive; do
    [ $(( $(date +%s) - S )) -ge "$WALL" ] && { log "out of time: interrupting"; kill -INT "${students[@]}" 2> /dev/null; break; }
    sleep 2
  done
fi
wait
log "phase B done"
for d in full ld-0_5 ld-none; do
  python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(f\"{sys.argv[2]}: best {r['best_value']:.4f} at step {r['best_step']} of {r['steps']}, {r['examples_per_second']:.1f} ex/s, {r['train_seconds']:.0f} s, completed {r['completed']}\")" \
    "$O/$d/results.json" $d | tee -a "$O/summary.txt"
done
