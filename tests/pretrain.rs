//! Pre-training: packing the real corpus, the masked-LM loss against PyTorch's
//! `BertForMaskedLM`, a resumed run equal to an uninterrupted one, milestone checkpoints that
//! load and fine-tune, and the corpus's bad inputs.
#![cfg(not(target_arch = "wasm32"))]

mod common;
use common::StopAt;

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use undivided::data::corpus::{Corpus, CorpusStream, StreamPosition};
use undivided::data::{Prepared, Task};
use undivided::model::FfnPlan;
use undivided::train::finetune_run::{Observer, Quiet, TrainError, finetune};
use undivided::train::pretrain_run::{PretrainOptions, PretrainResults, PretrainState, parse_tokens, pretrain, tokens_label};
use undivided::train::pretrain_step::{PretrainConfig, Student};
use undivided::{Batch, Checkpoint};

/// burn's CPU random generator (dropout) is global to the process: tests take turns.
static RNG_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn turn() -> std::sync::MutexGuard<'static, ()> {
    RNG_LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

fn shared_corpus() -> PathBuf {
    common::root().join("../shared/corpus")
}

/// The real corpus with MiniLM's tokenizer: 32 shards, sequences full to the last position
/// (packing efficiency over 0.99), each `[CLS] … [SEP]`; a stream restarted at a saved position
/// hands out the very sequences the first one went on to.
#[test]
fn the_corpus_packs_into_full_sequences_and_a_stream_restarts_where_it_stopped() {
    let minilm = Checkpoint::open(common::minilm_dir()).unwrap();
    let dir = shared_corpus();
    let corpus = Corpus::open(&dir, Some(&dir.join("valid.txt"))).unwrap();
    assert_eq!(corpus.shards.len(), 32, "every train-NN.txt and not valid.txt");
    assert!(corpus.shards.iter().all(|p| p.file_name().unwrap().to_string_lossy().starts_with("train-")));
    let mut stream = CorpusStream::new(corpus.clone(), &minilm.tokenizer, 128, 7, StreamPosition::default()).unwrap();
    let mut first = Vec::new();
    for _ in 0..300 {
        first.push(stream.next_sequence().unwrap().ids);
    }
    assert!(stream.stats.efficiency() > 0.99, "packing efficiency {}", stream.stats.efficiency());
    let (cls, sep) = (101, 102);
    for ids in &first {
        assert!(ids.len() <= 128 && ids[0] == cls && *ids.last().unwrap() == sep);
        assert!(!ids.windows(2).any(|w| w == [sep, sep]), "no empty paragraph between two separators");
    }
    // Shuffled: consecutive sequences are not consecutive text (sequence 0 and 1 differ in shard
    // windows), and another seed gives another order.
    let other = CorpusStream::new(corpus.clone(), &minilm.tokenizer, 128, 8, StreamPosition::default()).unwrap().next_sequence().unwrap().ids;
    assert_ne!(other, first[0]);
    let position = {
        let mut s = CorpusStream::new(corpus.clone(), &minilm.tokenizer, 128, 7, StreamPosition::default()).unwrap();
        for _ in 0..150 {
            s.next_sequence().unwrap();
        }
        s.position
    };
    let mut restarted = CorpusStream::new(corpus, &minilm.tokenizer, 128, 7, position).unwrap();
    for (i, expected) in first[150..].iter().enumerate() {
        assert_eq!(&restarted.next_sequence().unwrap().ids, expected, "sequence {} after the restart", 150 + i);
    }
}

/// A copy of the tiny MLM fixture (BERT with `cls.predictions`) with a vocab.txt.
fn tiny_mlm_dir() -> common::TempDir {
    let dir = common::tempdir();
    for f in ["config.json", "model.safetensors"] {
        std::fs::copy(common::fixtures().join("tiny_mlm").join(f), dir.path().join(f)).unwrap();
    }
    std::fs::write(dir.path().join("vocab.txt"), common::tiny_vocab(1000)).unwrap();
    dir
}

/// Our masked-LM loss = PyTorch's `BertForMaskedLM(...).loss` on the fixture's masked batch, for
/// the full model and for a reduced plan (scripts/make_reference.py, `tiny_mlm`).
#[test]
fn the_masked_lm_loss_equals_pytorchs() {
    let dir = tiny_mlm_dir();
    let checkpoint = Checkpoint::open(dir.path()).unwrap();
    let expected: serde_json::Value = serde_json::from_slice(&std::fs::read(common::fixtures().join("tiny_mlm/expected.json")).unwrap()).unwrap();
    let rows =
        |key: &str| -> Vec<i64> { expected[key].as_array().unwrap().iter().flat_map(|r| r.as_array().unwrap().iter().map(|v| v.as_i64().unwrap())).collect() };
    let (ids, mask, labels) = (rows("input_ids"), rows("attention_mask"), rows("labels"));
    let batch = Batch { token_type_ids: vec![0; ids.len()], input_ids: ids, attention_mask: mask, batch_size: 2, seq_len: 10, truncated: 0 };
    let device = Device::flex();
    let head = checkpoint.load_mlm_head(&device).unwrap();
    for (plan, loss) in expected["loss"].as_object().unwrap() {
        let plan = FfnPlan::parse(plan, 3).unwrap();
        let (bert, _) = checkpoint.load_bert(Some(&plan), &device).unwrap();
        let predicted = labels.iter().filter(|l| **l != -100).count();
        let out = bert.forward(batch.to_input(&device), Default::default());
        let ours = head.loss(&bert, out.last_hidden_state, &labels, predicted).into_scalar::<f32>();
        let theirs = loss.as_f64().unwrap() as f32;
        assert!((ours - theirs).abs() < 2e-5 * theirs.abs(), "plan {plan}: masked-LM loss {ours}, PyTorch {theirs}");
    }
}

const WORDS: [&str; 12] = ["the", "a", "movie", "good", "bad", "is", "was", "not", "very", "film", "films", "going"];

/// A corpus of `shards` files of made-up prose in the tiny vocabulary, and a valid.txt.
fn toy_corpus(shards: usize) -> common::TempDir {
    let dir = common::tempdir();
    let paragraph = |i: usize, n: usize| (0..n).map(|k| WORDS[(i * 7 + k * 5) % WORDS.len()]).collect::<Vec<_>>().join(" ");
    for s in 0..shards {
        let text: String = (0..40).map(|i| paragraph(i + s * 40, 3 + (i * 3) % 17) + "\n").collect();
        std::fs::write(dir.path().join(format!("train-{s:02}.txt")), text).unwrap();
    }
    std::fs::write(dir.path().join("valid.txt"), (0..20).map(|i| paragraph(i + 999, 12) + "\n").collect::<String>()).unwrap();
    dir
}

fn options(corpus: &Path, tokens: u64, mlm_weight: f64) -> PretrainOptions {
    PretrainOptions {
        config: PretrainConfig { lr: 2e-3, warmup_ratio: 0.0, mlm_weight, ..PretrainConfig::default() },
        corpus: corpus.to_path_buf(),
        valid: corpus.join("valid.txt"),
        held_out: 8,
        batch_size: 4,
        max_len: 16,
        tokens,
        milestones: PretrainOptions::doublings(tokens).into_iter().filter(|&t| t >= 64).collect(),
        save_every: 0,
        made_from: None,
    }
}

fn run(
    checkpoint: &Checkpoint,
    corpus: &Path,
    out: &Path,
    steps: u64,
    resume: bool,
    observer: &mut dyn Observer,
) -> Result<(PretrainResults, Vec<u8>), TrainError> {
    let plan = FfnPlan::parse("1", 3).unwrap();
    let r = pretrain(checkpoint, &plan, out, &options(corpus, steps * 64, 0.0), resume, &Device::flex(), observer)?;
    Ok((r, std::fs::read(out.join("last/model.safetensors")).unwrap()))
}

/// Ctrl-C after 3 of 8 steps, then `--resume`: the same weights as 8 steps at once; the
/// milestones (every doubling) are checkpoints with the student's plan, which fine-tune.
#[test]
fn pretraining_resumes_to_the_same_weights_and_its_milestones_fine_tune() {
    let _turn = turn();
    let ckpt = common::tiny_checkpoint_dir();
    let teacher = Checkpoint::open(ckpt.path()).unwrap();
    let corpus = toy_corpus(3);
    let (a, b) = (common::tempdir(), common::tempdir());
    let (full_run, uninterrupted) = run(&teacher, corpus.path(), a.path(), 8, false, &mut Quiet).unwrap();
    assert!(full_run.completed && full_run.steps == 8 && full_run.tokens_seen == 8 * 64, "{full_run:?}");
    assert!(full_run.after.hidden_mse < full_run.before.hidden_mse, "{:?} -> {:?}", full_run.before, full_run.after);
    assert!(full_run.packing_efficiency > 0.9, "{}", full_run.packing_efficiency);

    let (stopped, _) = run(&teacher, corpus.path(), b.path(), 8, false, &mut StopAt(3)).unwrap();
    assert!(!stopped.completed);
    let state: PretrainState = serde_json::from_slice(&std::fs::read(b.path().join("last/state.json")).unwrap()).unwrap();
    assert_eq!((state.cursor.step, state.cursor.examples_seen), (3, 3 * 64));
    assert!(state.cursor.stream.is_some());
    let (resumed, weights) = run(&teacher, corpus.path(), b.path(), 8, true, &mut Quiet).unwrap();
    assert!(weights == uninterrupted, "the resumed pre-training ended with other weights");
    assert_eq!(resumed.milestones.iter().map(|m| m.step).collect::<Vec<_>>(), full_run.milestones.iter().map(|m| m.step).collect::<Vec<_>>());
    assert!((resumed.packing_efficiency - full_run.packing_efficiency).abs() < 1e-12);

    // Milestones at 1, 2, 4 and 8 steps (every doubling from an eighth of the budget).
    assert_eq!(full_run.milestones.iter().map(|m| m.step).collect::<Vec<_>>(), vec![1, 2, 4, 8]);
    assert_eq!(full_run.milestones.iter().map(|m| m.dir.as_str()).collect::<Vec<_>>(), ["milestones/64", "milestones/128", "milestones/256", "milestones/512"]);
    let milestone = Checkpoint::open(a.path().join(&full_run.milestones[1].dir)).unwrap();
    assert_eq!(milestone.plan().to_string(), "1");
    let data = Prepared::new(&milestone.tokenizer, &undivided::data::sample("train")).unwrap();
    let dev = vec![("dev".to_string(), Prepared::new(&milestone.tokenizer, &undivided::data::sample("dev")).unwrap())];
    let ft = common::tempdir();
    let o = common::finetune_options(2, 1e-3);
    let r = finetune(&milestone, &milestone.plan(), Task::Sst2, &data, &dev, ft.path(), &o, false, &Device::flex(), &mut Quiet).unwrap();
    assert!(r.completed && r.plan == "1");
    // The top level of the run is the last milestone's checkpoint.
    assert_eq!(Checkpoint::open(a.path()).unwrap().plan().to_string(), "1");
}

/// With BERT's pre-training head, the masked-LM loss trains alone or beside distillation, and
/// `last/` keeps the head for a resume; a checkpoint without the head is refused naming every
/// missing tensor.
#[test]
fn masked_lm_pretraining_needs_the_head_and_keeps_it() {
    let _turn = turn();
    let corpus = toy_corpus(2);
    let mlm = tiny_mlm_dir();
    let teacher = Checkpoint::open(mlm.path()).unwrap();
    let out = common::tempdir();
    let plan = FfnPlan::parse("1", 3).unwrap();
    let r = pretrain(&teacher, &plan, out.path(), &options(corpus.path(), 4 * 64, 1.0), false, &Device::flex(), &mut Quiet).unwrap();
    assert!(r.completed && r.before.mlm > 1.0 && r.after.mlm.is_finite(), "{r:?}");
    let last = std::fs::read(out.path().join("last/model.safetensors")).unwrap();
    let names: Vec<String> = safetensors::SafeTensors::deserialize(&last).unwrap().names().into_iter().map(str::to_string).collect();
    assert!(names.iter().any(|n| n == "cls.predictions.bias") && names.iter().any(|n| n == "bert.pooler.dense.weight"), "{names:?}");
    // The milestone loads as an encoder and with its head.
    let m = Checkpoint::open(out.path().join(&r.milestones[0].dir)).unwrap();
    m.load_mlm_head(&Device::flex()).unwrap();

    let plain = common::tiny_checkpoint_dir();
    let teacher = Checkpoint::open(plain.path()).unwrap();
    let out = common::tempdir();
    let err = pretrain(&teacher, &plan, out.path(), &options(corpus.path(), 4 * 64, 1.0), false, &Device::flex(), &mut Quiet).unwrap_err().to_string();
    for name in ["cls.predictions.transform.dense.weight", "cls.predictions.transform.LayerNorm.weight", "cls.predictions.bias"] {
        assert!(err.contains(name), "{err}");
    }
    assert!(err.contains("--mlm-weight 0"), "{err}");
    assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 0, "a refusal writes nothing");
}

/// The student under training is a `Student` (encoder + optional head): without masked-LM
/// training it has no head, so a checkpoint without one pre-trains by distillation alone.
#[test]
fn distillation_alone_needs_no_head() {
    let _turn = turn();
    let ckpt = common::tiny_checkpoint_dir();
    let teacher = Checkpoint::open(ckpt.path()).unwrap();
    let (bert, _) = teacher.load_bert(Some(&FfnPlan::parse("none", 3).unwrap()), &Device::flex()).unwrap();
    let student = Student { bert, mlm: None };
    assert!(student.params().0.len() > 10);
}

/// Bad corpora and budgets: each a clear error naming the file or flag, or a reported skip.
#[test]
fn bad_corpora_and_budgets_are_refused_by_name() {
    let _turn = turn();
    let ckpt = common::tiny_checkpoint_dir();
    let teacher = Checkpoint::open(ckpt.path()).unwrap();
    let plan = FfnPlan::parse("1", 3).unwrap();
    let attempt = |corpus: &Path, tokens: u64| {
        let out = common::tempdir();
        let r = pretrain(&teacher, &plan, out.path(), &options(corpus, tokens, 0.0), false, &Device::flex(), &mut Quiet);
        r.map_err(|e| e.to_string())
    };

    // No text files at all.
    let empty = common::tempdir();
    std::fs::write(empty.path().join("valid.txt"), "the movie\n").unwrap();
    std::fs::write(empty.path().join("notes.md"), "the movie\n").unwrap();
    let err = attempt(empty.path(), 256).unwrap_err();
    assert!(err.contains("no text shards") && err.contains(&empty.path().display().to_string()), "{err}");

    // A binary shard and a non-UTF-8 shard: named with their line.
    let binary = toy_corpus(1);
    std::fs::write(binary.path().join("train-01.txt"), b"the movie\n\x00\x01\x02 binary\n").unwrap();
    let err = attempt(binary.path(), 64 * 64).unwrap_err();
    assert!(err.contains("train-01.txt:2") && err.contains("NUL"), "{err}");
    let latin1 = toy_corpus(1);
    std::fs::write(latin1.path().join("train-01.txt"), b"the movie\ncaf\xe9 film\n").unwrap();
    let err = attempt(latin1.path(), 64 * 64).unwrap_err();
    assert!(err.contains("train-01.txt:2") && err.contains("not UTF-8"), "{err}");

    // A file with no line ends (a device, a binary) ends with an error, not a read forever.
    let err = undivided::data::corpus::pack_file(Path::new("/dev/zero"), &teacher.tokenizer, 16, 4).unwrap_err().to_string();
    assert!(err.contains("/dev/zero") && err.contains("NUL"), "{err}");

    // An empty shard is skipped and the run goes on.
    let with_empty = toy_corpus(2);
    std::fs::write(with_empty.path().join("train-05.txt"), "\n\n").unwrap();
    let r = attempt(with_empty.path(), 64 * 64).unwrap();
    assert!(r.completed);

    // A paragraph longer than a sequence is split, not dropped: one 200-word line fills 14
    // sequences of 16.
    let long = common::tempdir();
    std::fs::write(long.path().join("train-00.txt"), vec!["film"; 200].join(" ") + "\n").unwrap();
    std::fs::write(long.path().join("valid.txt"), "the movie\n").unwrap();
    let r = attempt(long.path(), 3 * 64).unwrap();
    assert!(r.completed && r.packing.sequences >= 12, "{:?}", r.packing);

    // A budget smaller than one batch, and budgets that overflow.
    let err = attempt(binary.path(), 10).unwrap_err();
    assert!(err.contains("--tokens") && err.contains("one batch"), "{err}");
    for bad in ["1e30", "-5", "NaN", "12Q", ""] {
        assert!(parse_tokens(bad).is_err(), "{bad}");
    }
    assert_eq!(parse_tokens("16M").unwrap(), 16_000_000);
    assert_eq!(parse_tokens("1.5k").unwrap(), 1500);
    assert_eq!(tokens_label(16_000_000), "16M");
    assert_eq!(tokens_label(2_097_152), "2.097M");
}

/// A pre-training published beside the page (`publish --f16`): every milestone and the final
/// checkpoint, as `pre-trained` models with f16 weights that load.
#[test]
fn a_pretraining_publishes_its_milestones_in_f16() {
    let _turn = turn();
    let ckpt = common::tiny_checkpoint_dir();
    let teacher = Checkpoint::open(ckpt.path()).unwrap();
    let corpus = toy_corpus(1);
    let runs = common::tempdir();
    let run = runs.path().join("pt-1");
    run_at(&teacher, corpus.path(), &run);
    let into = common::tempdir();
    let index = undivided::experiment::publish::publish_with(std::slice::from_ref(&run), into.path(), &|_| {}, true).unwrap();
    let kinds: Vec<(&str, &str)> = index.checkpoints.iter().map(|c| (c.path.as_str(), c.kind.as_str())).collect();
    assert_eq!(
        kinds,
        [("pt-1", "pre-trained"), ("pt-1/milestones/128", "pre-trained"), ("pt-1/milestones/256", "pre-trained"), ("pt-1/milestones/64", "pre-trained")]
    );
    let bytes = std::fs::read(into.path().join("pt-1/milestones/256/model.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    assert!(st.tensors().iter().all(|(_, v)| v.dtype() == safetensors::Dtype::F16));
    std::fs::write(into.path().join("pt-1/milestones/256/vocab.txt"), common::tiny_vocab(1000)).unwrap();
    let published = Checkpoint::open(into.path().join("pt-1/milestones/256")).unwrap();
    published.load_bert(None, &Device::flex()).unwrap();
}

fn run_at(teacher: &Checkpoint, corpus: &Path, out: &Path) -> PretrainResults {
    let plan = FfnPlan::parse("1", 3).unwrap();
    pretrain(teacher, &plan, out, &options(corpus, 4 * 64, 0.0), false, &Device::flex(), &mut Quiet).unwrap()
}
