//! `undivided encode`: one sentence or pair through the model, printed as HF would return it.

use clap::Args;
use serde_json::json;

use super::args::{DeviceArgs, ModelArgs, PrecisionArgs};
use crate::checkpoint::{Checkpoint, resolve_model};
use crate::model::ForwardConfig;
use crate::text::TextInput;

#[derive(Args, Debug)]
pub struct EncodeArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub device: DeviceArgs,
    #[command(flatten)]
    pub precision: PrecisionArgs,
    /// Truncate inputs to this many tokens, special tokens included
    /// [default: 128, or the model's max_position_embeddings if smaller].
    #[arg(long)]
    pub max_len: Option<usize>,
    /// Print `{input_ids, token_type_ids, attention_mask, last_hidden_state, pooler_output}` as JSON.
    #[arg(long)]
    pub json: bool,
    /// The sentence.
    pub text: String,
    /// The second sentence of a pair (gets token type 1).
    pub text_b: Option<String>,
}

fn rows<T: Clone>(values: Vec<T>, width: usize) -> Vec<Vec<T>> {
    values.chunks(width).map(<[T]>::to_vec).collect()
}

pub fn run(args: EncodeArgs) -> anyhow::Result<()> {
    let checkpoint = Checkpoint::open(resolve_model(&args.model.model)?)?;
    let plan = checkpoint.parse_plan(args.model.keep_ffn.as_deref())?;
    let mut tokenizer = checkpoint.tokenizer.clone();
    let limit = checkpoint.config.max_position_embeddings;
    let max_len = args.max_len.unwrap_or(crate::text::DEFAULT_MAX_LEN.min(limit));
    tokenizer.set_max_len(max_len, limit)?;
    let batch = tokenizer.encode(&TextInput::new(args.text, args.text_b))?;
    if batch.truncated > 0 {
        eprintln!("note: the input was truncated to {max_len} tokens (--max-len)");
    }

    let device = args.device.init()?;
    let (model, _) = checkpoint.load_bert(Some(&plan), &device)?;
    let model = crate::model::precision::cast(model, args.precision.precision, &device)?;
    let out = model.forward(batch.to_input(&device), ForwardConfig::default());
    let hidden = checkpoint.config.hidden_size;
    let last: Vec<f32> = out.last_hidden_state.into_data().try_into_vec()?;
    let pooled: Vec<f32> = out.pooler_output.into_data().try_into_vec()?;

    if args.json {
        let json = json!({
            "input_ids": [batch.input_ids],
            "token_type_ids": [batch.token_type_ids],
            "attention_mask": [batch.attention_mask],
            "last_hidden_state": [rows(last, hidden)],
            "pooler_output": [pooled],
        });
        println!("{json}");
        return Ok(());
    }
    let tokens: Vec<String> = batch.input_ids.iter().map(|&id| tokenizer.inner().id_to_token(id as u32).unwrap_or_default()).collect();
    let preview = |v: &[f32]| v.iter().take(6).map(|x| format!("{x:+.4}")).collect::<Vec<_>>().join(" ");
    println!("plan `{plan}`, {} tokens: {}", batch.seq_len, tokens.join(" "));
    println!("last_hidden_state [1, {}, {hidden}]; [CLS]: {} …", batch.seq_len, preview(&last[..hidden]));
    println!("pooler_output     [1, {hidden}]: {} …", preview(&pooled));
    Ok(())
}
