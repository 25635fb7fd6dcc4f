//! The page's model worker: every piece of model work (loading, inference, the benchmark,
//! healing, fine-tuning, CKA, probes) runs in a Web Worker, so that the page's own thread only
//! draws. A model forward pass on a software adapter takes seconds; on the page's thread it froze
//! scrolling and the Stop button and made browsers offer to kill the page.
//!
//! The protocol is one typed [`Request`] per message and one reply (a JSON object) per request;
//! `www/worker.js` only forwards messages and answers them in order, and `www/app.js` sends them.
//! Long runs are driven one step per request (`heal_step`, `train_step`), which is how Stop takes
//! effect within one step: the page stops asking.

use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;

use std::rc::Rc;

use super::data::{DataSource, WebData};
use super::model::WebModel;
use super::share::SharedBoard;
use super::train::{HealPoint, PageFinetune, PageHeal, PageOptions};
use super::{js_err, to_js};
use crate::analysis::cosine;
use crate::model::ModelStats;
use crate::model::ops::share::Sharing;
use crate::train::EvalResult;

/// What the page asks of the worker.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    /// Load a checkpoint (folder URL or `hf:org/name`) on WebGPU, or on the CPU backend.
    Load {
        source: String,
        cpu: bool,
    },
    // The requests below ask about both models at once: the full model (the checkpoint's own
    // plan) and the reduced model of `plan`; the reply is `{full, reduced}` ([`Both`]). CKA,
    // probes, healing and fine-tuning compare the same two.
    /// Parameters and FLOPs/token at a sequence length.
    Stats {
        plan: String,
        seq_len: usize,
    },
    Encode {
        plan: String,
        text: String,
        text_b: Option<String>,
    },
    Similarity {
        plan: String,
        text: String,
        text_b: String,
    },
    Classify {
        plan: String,
        text: String,
        text_b: Option<String>,
    },
    Bench {
        plan: String,
        batch_size: usize,
        seq_len: usize,
        iters: usize,
    },
    Cka {
        plan: String,
        data: DataSource,
        max_sentences: usize,
        debiased: bool,
    },
    Probe {
        plan: String,
        data: DataSource,
        max_train: usize,
        steps: usize,
    },
    /// Start healing the reduced model of `plan` against the full one.
    HealStart {
        plan: String,
        data: DataSource,
        settings: PageOptions,
    },
    HealStep,
    /// Keep the healed model for fine-tuning, and end the healing.
    HealAdopt,
    /// Start fine-tuning the full model and the model of `plan` side by side.
    TrainStart {
        plan: String,
        data: DataSource,
        settings: PageOptions,
        healed: bool,
    },
    /// One step of both models.
    TrainStep,
    TrainEvaluate,
    TrainEnd,
    ClearCache,
}

/// The reply to a request about both models.
#[derive(Serialize)]
struct Both<T> {
    full: T,
    reduced: T,
    /// `encode`: cosine similarity of the two models' last-layer [CLS] states.
    #[serde(skip_serializing_if = "Option::is_none")]
    cls_cosine: Option<f32>,
}

impl<T> Both<T> {
    fn new(full: T, reduced: T) -> Self {
        Self { full, reduced, cls_cosine: None }
    }
}

#[derive(Serialize)]
struct HealStarted {
    plan: String,
    steps: usize,
}

#[derive(Serialize)]
struct HealStepped {
    point: HealPoint,
    done: bool,
}

#[derive(Serialize)]
struct TrainStarted<'a> {
    data: super::data::Summary<'a>,
    plans: Vec<String>,
    head_notice: Option<String>,
}

#[derive(Serialize)]
struct TrainStepped {
    step: usize,
    /// Training loss of each model (full first).
    losses: Vec<f32>,
    done: bool,
}

#[derive(Serialize)]
struct TrainEvaluated {
    evals: Vec<EvalResult>,
    steps_done: Vec<usize>,
    /// Mean milliseconds per step after the first (shader compilation).
    ms_per_step: Vec<f64>,
}

/// The worker's state: the loaded model, and the healing or fine-tuning in progress.
#[wasm_bindgen]
#[derive(Default)]
pub struct Worker {
    model: Option<WebModel>,
    healer: Option<PageHeal>,
    trainers: Vec<PageFinetune>,
}

#[wasm_bindgen]
impl Worker {
    #[wasm_bindgen(constructor)]
    pub fn new() -> Worker {
        console_error_panic_hook::set_once();
        Worker::default()
    }

    /// Serves one request (a [`Request`] as a JS object) and resolves to its reply;
    /// `progress(file, bytes, total)` follows downloads while a model loads. `shared`
    /// (`{buffer, part, parts}`, or `undefined`): the same request goes to `parts` workers with
    /// the same model, which share its attention heads and intermediate columns through `buffer`
    /// ([`super::share`]); this one computes share `part`.
    pub async fn handle(&mut self, request: JsValue, progress: Option<js_sys::Function>, shared: JsValue) -> Result<JsValue, JsValue> {
        let request: Request = serde_wasm_bindgen::from_value(request).map_err(|e| js_err(format!("the worker cannot read the page's request: {e}")))?;
        if shared.is_undefined() || shared.is_null() {
            return self.serve(request, progress).await;
        }
        let board = Self::board(&shared).map_err(|e| js_err(format!("the page's shared request: {e}")))?;
        let sharing = Sharing::start(Rc::new(board));
        let reply = self.serve(request, progress).await;
        // The reply stands even when a peer stopped answering (every later layer ran here,
        // whole), but its timings are not a shared pass's: say so rather than report them.
        sharing.finish().map_err(|e| js_err(format!("the workers sharing this request: {e}")))?;
        reply
    }
}

impl Worker {
    fn board(shared: &JsValue) -> Result<SharedBoard, String> {
        let get = |key: &str| js_sys::Reflect::get(shared, &key.into()).map_err(|e| format!("{key}: {e:?}"));
        let buffer = get("buffer")?.dyn_into::<js_sys::SharedArrayBuffer>().map_err(|_| "buffer: expected a SharedArrayBuffer".to_string())?;
        let index =
            |key: &str| get(key)?.as_f64().filter(|v| v.fract() == 0.0 && *v >= 0.0).map(|v| v as usize).ok_or(format!("{key}: expected a whole number"));
        SharedBoard::new(&buffer, index("part")?, index("parts")?)
    }

    fn model(&mut self) -> Result<&mut WebModel, JsValue> {
        self.model.as_mut().ok_or_else(|| js_err("no model is loaded yet: load one first"))
    }

    async fn data(source: &DataSource) -> Result<WebData, JsValue> {
        WebData::from_source(source).await.map_err(js_err)
    }

    /// Serves one typed request.
    pub async fn serve(&mut self, request: Request, progress: Option<js_sys::Function>) -> Result<JsValue, JsValue> {
        match request {
            Request::Load { source, cpu } => {
                // The old model's buffers go before the new one is built.
                self.model = None;
                self.healer = None;
                self.trainers.clear();
                let model = WebModel::load(source, cpu, progress).await?;
                let info = model.info();
                self.model = Some(model);
                to_js(&info)
            }
            Request::Stats { plan, seq_len } => {
                let model = self.model()?;
                let own = model.own_plan();
                to_js(&Both::<ModelStats>::new(model.stats_of(&own, seq_len)?, model.stats_of(&plan, seq_len)?))
            }
            Request::Encode { plan, text, text_b } => {
                let model = self.model()?;
                let own = model.own_plan();
                let full = model.encode(&own, text.clone(), text_b.clone()).await?;
                let reduced = model.encode(&plan, text, text_b).await?;
                let cls_cosine = Some(cosine(&full.cls, &reduced.cls));
                to_js(&Both { full, reduced, cls_cosine })
            }
            Request::Similarity { plan, text, text_b } => {
                let model = self.model()?;
                let own = model.own_plan();
                let full = model.similarity(&own, text.clone(), text_b.clone()).await?;
                to_js(&Both::new(full, model.similarity(&plan, text, text_b).await?))
            }
            Request::Classify { plan, text, text_b } => {
                let model = self.model()?;
                let own = model.own_plan();
                let full = model.classify(&own, text.clone(), text_b.clone()).await?;
                to_js(&Both::new(full, model.classify(&plan, text, text_b).await?))
            }
            Request::Bench { plan, batch_size, seq_len, iters } => {
                let model = self.model()?;
                let own = model.own_plan();
                let full = model.bench(&own, batch_size, seq_len, iters).await?;
                to_js(&Both::new(full, model.bench(&plan, batch_size, seq_len, iters).await?))
            }
            Request::Cka { plan, data, max_sentences, debiased } => {
                let data = Self::data(&data).await?;
                self.model()?.cka(plan, &data, max_sentences, debiased).await
            }
            Request::Probe { plan, data, max_train, steps } => {
                let data = Self::data(&data).await?;
                self.model()?.probe(plan, &data, max_train, steps).await
            }
            Request::HealStart { plan, data, settings } => {
                self.healer = None;
                let data = Self::data(&data).await?;
                let run = self.model()?.heal(plan, &data, &settings)?;
                let started = HealStarted { plan: run.plan.to_string(), steps: run.cursor.total_steps };
                self.healer = Some(run);
                to_js(&started)
            }
            Request::HealStep => {
                let healer = self.healer.as_mut().ok_or_else(|| js_err("no healing is running"))?;
                let point = healer.step().await.map_err(js_err)?;
                to_js(&HealStepped { point, done: healer.done() })
            }
            Request::HealAdopt => {
                let healer = self.healer.take().ok_or_else(|| js_err("no healing to keep"))?;
                let model = self.model()?;
                model.adopt_healed(&healer).await?;
                to_js(&model.info())
            }
            Request::TrainStart { plan, data, settings, healed } => {
                self.trainers.clear();
                let data = Self::data(&data).await?;
                let model = self.model()?;
                let own = model.own_plan();
                let full = model.quick_trainer(own, &data, &settings, false)?;
                let reduced = model.quick_trainer(plan, &data, &settings, healed)?;
                let started =
                    TrainStarted { data: data.summary(), plans: vec![full.plan.to_string(), reduced.plan.to_string()], head_notice: full.head_notice.clone() };
                let reply = to_js(&started);
                self.trainers = vec![full, reduced];
                reply
            }
            Request::TrainStep => {
                if self.trainers.is_empty() {
                    return Err(js_err("no fine-tuning is running"));
                }
                let mut losses = Vec::new();
                for t in &mut self.trainers {
                    losses.push(t.step().await.map_err(js_err)?);
                }
                let t = &self.trainers[0];
                to_js(&TrainStepped { step: t.cursor.step, losses, done: t.done() })
            }
            Request::TrainEvaluate => {
                let mut evals = Vec::new();
                for t in &self.trainers {
                    evals.push(t.evaluate().await.map_err(js_err)?);
                }
                let reply = TrainEvaluated {
                    evals,
                    steps_done: self.trainers.iter().map(|t| t.cursor.step).collect(),
                    ms_per_step: self.trainers.iter().map(|t| t.ms_per_step()).collect(),
                };
                to_js(&reply)
            }
            Request::TrainEnd => {
                self.trainers.clear();
                Ok(JsValue::NULL)
            }
            Request::ClearCache => {
                super::fetch::clear_cache().await.map_err(js_err)?;
                Ok(JsValue::NULL)
            }
        }
    }
}
