//! Healing on a tiny random BERT: the reduced student's hidden-state loss falls, the teacher is
//! never updated, an interrupted heal resumes to the same weights, and the healed folder is a
//! checkpoint that fine-tuning takes.
#![cfg(not(target_arch = "wasm32"))]

mod common;
use common::StopAt;

use std::path::Path;

use burn::tensor::Device;
use undivided::checkpoint::bert_to_safetensors;
use undivided::data::Prepared;
use undivided::data::Task;
use undivided::data::split_held_out;
use undivided::data::text::{lines_to_dataset, read_texts};
use undivided::model::FfnPlan;
use undivided::train::finetune_run::{Observer, Quiet, TrainError};
use undivided::train::heal_run::{HealOptions, HealResults, HealState, heal};
use undivided::train::heal_step::{HealConfig, Healer};
use undivided::{Checkpoint, TextInput};

/// burn's CPU random generator (dropout) is global to the process: tests take turns.
static RNG_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn turn() -> std::sync::MutexGuard<'static, ()> {
    RNG_LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

const TEXT: &str = "the movie was good\na film is not very bad\nthe film was very good\na movie is bad\n\
the movie is very good\na film was bad\nthe film is not good\na movie was very bad\n\
the film is good\na movie is not bad\nthe movie was very bad\na film is good\n";

#[test]
fn a_short_heal_lowers_the_hidden_loss_and_leaves_the_teacher_alone() {
    let _turn = turn();
    let dir = common::tiny_checkpoint_dir();
    let checkpoint = Checkpoint::open(dir.path()).unwrap();
    let device = Device::flex().autodiff();
    let (teacher, _) = checkpoint.load_bert(None, &device.clone().without_autodiff()).unwrap();
    let (student, _) = checkpoint.load_bert(Some(&FfnPlan::parse("1", 3).unwrap()), &device).unwrap();
    let teacher_before = pollster::block_on(bert_to_safetensors(&teacher)).unwrap();

    let texts: Vec<TextInput> =
        ["the movie was good", "a film is not very bad", "the film was very good", "a movie is bad"].iter().map(|t| TextInput::Single(t.to_string())).collect();
    let batch = checkpoint.tokenizer.encode_batch(&texts).unwrap();
    let config = HealConfig { lr: 3e-3, warmup_ratio: 0.0, ..HealConfig::default() };
    let mut healer = Healer::new(student, teacher, config, 40, &device);
    let mut hidden = Vec::new();
    for _ in 0..40 {
        hidden.push(healer.step(&batch).hidden.into_scalar::<f32>());
    }
    // Dropout keeps single steps noisy: compare the first and last five.
    let first = hidden[..5].iter().sum::<f32>() / 5.0;
    let last = hidden[35..].iter().sum::<f32>() / 5.0;
    assert!(last < first * 0.8, "hidden-state loss {first} -> {last}: {hidden:?}");

    let teacher_after = pollster::block_on(bert_to_safetensors(&healer.teacher)).unwrap();
    assert!(teacher_before == teacher_after, "the teacher's weights changed");
}

fn options(steps: usize) -> HealOptions {
    HealOptions {
        config: HealConfig { lr: 2e-3, warmup_ratio: 0.0, ..HealConfig::default() },
        batch_size: 4,
        max_len: 16,
        epochs: 1,
        max_steps: Some(steps),
        eval_every: 0,
        save_every: 0,
        made_from: None,
    }
}

fn run(out: &Path, steps: usize, resume: bool, observer: &mut dyn Observer) -> Result<(HealResults, Vec<u8>), TrainError> {
    let ckpt = common::tiny_checkpoint_dir();
    let teacher = Checkpoint::open(ckpt.path()).unwrap();
    let all = Prepared::new(&teacher.tokenizer, &lines_to_dataset(TEXT, Path::new("toy.txt")).unwrap()).unwrap();
    let (texts, held_out) = split_held_out(&all, 512);
    let plan = FfnPlan::parse("1", 3).unwrap();
    let r = heal(&teacher, &plan, &texts, &held_out, out, &options(steps), resume, &Device::flex(), observer)?;
    Ok((r, std::fs::read(out.join("last/model.safetensors")).unwrap()))
}

#[test]
fn heal_then_resume_equals_an_uninterrupted_heal() {
    let _turn = turn();
    let (a, b) = (common::tempdir(), common::tempdir());
    let (full_run, uninterrupted) = run(a.path(), 8, false, &mut Quiet).unwrap();
    assert!(full_run.completed && full_run.steps == 8);
    assert!(full_run.after.hidden_mse < full_run.before.hidden_mse, "{full_run:?}");

    let (stopped, _) = run(b.path(), 8, false, &mut StopAt(3)).unwrap();
    assert!(!stopped.completed);
    let state: HealState = serde_json::from_slice(&std::fs::read(b.path().join("last/state.json")).unwrap()).unwrap();
    assert_eq!(state.cursor.step, 3);
    assert!(!b.path().join("model.safetensors").exists(), "an unfinished heal must not look like a healed checkpoint");
    let (resumed_run, resumed) = run(b.path(), 8, true, &mut Quiet).unwrap();
    assert!(resumed == uninterrupted, "the resumed heal ended with other weights");
    // The 'before' losses survive the restart (through JSON: equal to the last digit or so).
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-12 * a.abs().max(1e-30);
    assert!(close(resumed_run.before.hidden_mse, full_run.before.hidden_mse) && close(resumed_run.before.attention_kl, full_run.before.attention_kl));

    // The output folder is a reduced checkpoint that loads with its own plan.
    let healed = Checkpoint::open(a.path()).unwrap();
    assert_eq!(healed.plan().to_string(), "1");
    let (model, _) = healed.load_bert(None, &Device::flex()).unwrap();
    assert!(model.encoder.layers[0].intermediate.is_none() && model.encoder.layers[1].intermediate.is_some());
    let log = std::fs::read_to_string(a.path().join("log.jsonl")).unwrap();
    assert!(log.lines().any(|l| l.contains("held_out")) && log.lines().any(|l| l.contains("attention_kl")));
}

#[test]
fn healing_the_full_plan_or_nothing_is_refused() {
    let _turn = turn();
    let ckpt = common::tiny_checkpoint_dir();
    let teacher = Checkpoint::open(ckpt.path()).unwrap();
    let all = Prepared::new(&teacher.tokenizer, &lines_to_dataset(TEXT, Path::new("toy.txt")).unwrap()).unwrap();
    let (texts, held_out) = split_held_out(&all, 512);
    let out = common::tempdir();
    let err = heal(&teacher, &FfnPlan::all(3), &texts, &held_out, out.path(), &options(2), false, &Device::flex(), &mut Quiet).unwrap_err();
    assert!(err.to_string().contains("nothing to heal"), "{err}");
}

#[test]
fn held_out_split_is_disjoint_and_small() {
    let ckpt = common::tiny_checkpoint_dir();
    let teacher = Checkpoint::open(ckpt.path()).unwrap();
    let text: String = (0..500).map(|i| format!("sentence number {i}\n")).collect();
    let all = Prepared::new(&teacher.tokenizer, &lines_to_dataset(&text, Path::new("t.txt")).unwrap()).unwrap();
    let (train, dev) = split_held_out(&all, 512);
    assert_eq!(dev.len(), 10);
    assert_eq!(train.len() + dev.len(), 500);
    let (_, capped) = split_held_out(&all, 4);
    assert_eq!(capped.len(), 4);
}

#[test]
fn glue_folders_give_their_sentences_without_labels() {
    let sst2 = common::root().join("../shared/glue/SST-2");
    let set = read_texts(&sst2, None, false).unwrap();
    assert_eq!(set.task, Task::Sst2);
    assert_eq!(set.examples.len(), 67_349);
    assert!(set.examples.iter().all(|e| e.label == undivided::data::Label::Class(0)));
    let rte = read_texts(&common::root().join("../shared/glue/RTE/dev.tsv"), None, false).unwrap();
    assert!(rte.examples.iter().all(|e| e.text_b.is_some()), "RTE gives sentence pairs");
    // A TSV in a folder whose name says nothing needs --text-task.
    let dir = common::tempdir();
    std::fs::write(dir.path().join("train.tsv"), "sentence\tlabel\nfine film\t1\n").unwrap();
    let err = read_texts(dir.path(), None, false).unwrap_err();
    assert!(err.to_string().contains("--text-task"), "{err}");
    assert_eq!(read_texts(dir.path(), Some(Task::Sst2), false).unwrap().examples.len(), 1);
}

/// Healing trains its batch in slices on parallel threads on the CPU, as fine-tuning does. With
/// dropout off, the slices' losses (each a per-token mean, weighted by the slice's real tokens)
/// and gradients must sum to the whole batch's.
#[test]
fn a_heal_batch_in_slices_gives_the_whole_batch_losses_and_gradients() {
    use undivided::train::heal_step::heal_losses;
    use undivided::train::step::{Share, gradients};
    let _turn = turn();
    let dir = common::tiny_checkpoint_dir();
    let mut checkpoint = Checkpoint::open(dir.path()).unwrap();
    checkpoint.config.set_dropout(0.0);
    let device = Device::flex().autodiff();
    let (teacher, _) = checkpoint.load_bert(None, &Device::flex()).unwrap();
    let (student, _) = checkpoint.load_bert(Some(&FfnPlan::parse("1", 3).unwrap()), &device).unwrap();
    let healer = Healer::new(student, teacher, HealConfig::default(), 1, &device);
    let texts: Vec<TextInput> = ["the movie", "a film is not very bad at all", "good", "the film was very good and the movie was bad"]
        .iter()
        .map(|t| TextInput::Single(t.to_string()))
        .collect();
    let batch = checkpoint.tokenizer.encode_batch(&texts).unwrap();
    let loss = |student: &undivided::BertModel, slice: &undivided::Batch, _rows: std::ops::Range<usize>, share: Share| {
        let s = heal_losses(student, &healer.teacher, slice, &device, &healer.config, share);
        vec![s.loss, s.hidden, s.attention]
    };
    let read = |t: &burn::tensor::Tensor<1>| t.clone().into_scalar::<f32>();
    let (whole, whole_grads) = gradients(&healer.student, &device, &healer.opt.params, &batch, 1, 0, &loss);
    let (sliced, sliced_grads) = gradients(&healer.student, &device, &healer.opt.params, &batch, 2, 0, &loss);
    for (a, b) in whole.iter().zip(&sliced) {
        assert!((read(a) - read(b)).abs() < 1e-5 * read(a).abs().max(1e-3), "losses {} vs {}", read(a), read(b));
    }
    for &(id, rank, _) in &healer.opt.params.0 {
        let get = |g: &burn::optim::GradientsParams| match rank {
            1 => g.get::<1>(id).map(|t| t.into_data().try_to_vec::<f32>().unwrap()),
            _ => g.get::<2>(id).map(|t| t.into_data().try_to_vec::<f32>().unwrap()),
        };
        let (Some(a), Some(b)) = (get(&whole_grads), get(&sliced_grads)) else { continue };
        let scale = a.iter().fold(1e-3f32, |m, x| m.max(x.abs()));
        assert!(common::max_abs_diff(&a, &b) < 1e-4 * scale, "parameter {id}: gradients differ");
    }
}
