//! The page's CPU workers sharing one pass ([`crate::model::ops::share`]) through a
//! `SharedArrayBuffer`: the page makes one ([`share_buffer`]) and sends it to every worker with
//! the same request; each worker publishes its partial sum of a block's output there and waits
//! for the others' with `Atomics` (a worker may block; the page's own thread never does).
//!
//! A `SharedArrayBuffer` needs a cross-origin isolated page (COOP `same-origin` + COEP
//! `require-corp` or `credentialless`): `trunk serve` sends both (Trunk.toml), a static host must
//! too; without them the page runs a sentence on one worker, as before.
//!
//! Layout: `parts` round counters (`i32`), then two banks (even and odd rounds) of `parts` slots
//! of `slot` floats. A worker writes round `r` into bank `r % 2` and then sets its counter to `r`;
//! it reads a peer's share once the peer's counter reaches `r`. Two banks suffice: a worker can be
//! at most one round ahead of any peer, since a round ends only once every share is there.

use js_sys::{Atomics, Float32Array, Int32Array, SharedArrayBuffer};
use std::cell::Cell;
use wasm_bindgen::prelude::*;

use crate::model::ops::MAX_SHARED_ROWS;
use crate::model::ops::share::Peers;

/// How long a worker waits for a peer's share before it computes the layers by itself.
const PATIENCE_MS: f64 = 10_000.0;
/// Reads of a peer's counter before sleeping on it (each a call into JS, ~0.4 µs): the peer is
/// usually less than a layer behind, and a sleeping worker wakes tens to hundreds of µs after
/// the notify. On two workers of a 2-vCPU VM, 4,000 reads slept in 5% of the exchanges.
const SPINS: usize = 20_000;

#[wasm_bindgen]
extern "C" {
    /// `Atomics.load` without js-sys's `catch` wrapper, whose glue allocates an `arguments`
    /// object per call: thousands of reads per wait made V8 collect garbage every few
    /// milliseconds in both workers (it cannot throw on an `Int32Array` over shared memory).
    #[wasm_bindgen(js_namespace = Atomics, js_name = load)]
    fn load_round(rounds: &Int32Array, index: u32) -> i32;
}

/// Bytes of the buffer `parts` workers need to share the blocks of a model of `hidden` features:
/// a slot holds one partial sum, `[rows, hidden]`, and only passes of up to this many rows are
/// shared (`ops::share`).
fn buffer_bytes(parts: usize, hidden: usize) -> usize {
    4 * (parts + 2 * parts * MAX_SHARED_ROWS * hidden)
}

/// A fresh buffer for one shared request of `parts` workers over a model of `hidden` features
/// (the page's wasm instance makes it; every worker of the request gets it).
#[wasm_bindgen]
pub fn share_buffer(parts: usize, hidden: usize) -> Result<SharedArrayBuffer, JsValue> {
    if !js_sys::Reflect::get(&js_sys::global(), &"crossOriginIsolated".into())?.is_truthy() {
        return Err(JsValue::from_str("this page is not cross-origin isolated (its host sends no COOP/COEP headers): no shared memory"));
    }
    Ok(SharedArrayBuffer::new(buffer_bytes(parts, hidden) as u32))
}

/// One worker's view of the buffer of a shared request.
pub struct SharedBoard {
    part: usize,
    parts: usize,
    slot: usize,
    rounds: Int32Array,
    values: Float32Array,
    round: Cell<i32>,
}

impl SharedBoard {
    /// Worker `part` of `parts` over `buffer` (from [`share_buffer`] for the same `parts`).
    pub fn new(buffer: &SharedArrayBuffer, part: usize, parts: usize) -> Result<SharedBoard, String> {
        if parts == 0 || part >= parts {
            return Err(format!("share {part} of {parts}: expected a share below the number of workers"));
        }
        let floats = (buffer.byte_length() as usize / 4).saturating_sub(parts);
        let slot = floats / (2 * parts);
        if slot == 0 {
            return Err(format!("the shared buffer holds {} bytes: too small for {parts} workers", buffer.byte_length()));
        }
        let rounds = Int32Array::new_with_byte_offset_and_length(buffer, 0, parts as u32);
        let values = Float32Array::new_with_byte_offset_and_length(buffer, (4 * parts) as u32, (2 * parts * slot) as u32);
        Ok(SharedBoard { part, parts, slot, rounds, values, round: Cell::new(0) })
    }

    fn slot_of(&self, round: i32, part: usize) -> u32 {
        (((round as usize % 2) * self.parts + part) * self.slot) as u32
    }

    /// Waits until `part`'s counter reaches `round`.
    fn await_round(&self, part: usize, round: i32) -> Result<(), String> {
        for _ in 0..SPINS {
            if load_round(&self.rounds, part as u32) >= round {
                return Ok(());
            }
        }
        let deadline = web_time::Instant::now() + web_time::Duration::from_millis(PATIENCE_MS as u64);
        loop {
            let seen = load_round(&self.rounds, part as u32);
            if seen >= round {
                return Ok(());
            }
            let left = deadline.saturating_duration_since(web_time::Instant::now()).as_secs_f64() * 1e3;
            if left <= 0.0 {
                return Err(format!("worker {part} did not share its part within {} s (round {round}, it is at {seen})", PATIENCE_MS / 1e3));
            }
            Atomics::wait_with_timeout(&self.rounds, part as u32, seen, left)
                .map_err(|e| format!("Atomics.wait (a worker may wait; the page may not): {e:?}"))?;
        }
    }
}

impl Peers for SharedBoard {
    fn part(&self) -> usize {
        self.part
    }

    fn parts(&self) -> usize {
        self.parts
    }

    fn exchange(&self, all: &mut [f32]) -> Result<(), String> {
        let block = all.len() / self.parts;
        if block > self.slot {
            return Err(format!("a share of {block} values does not fit the shared buffer's {} per worker", self.slot));
        }
        let round = self.round.get() + 1;
        let at = self.slot_of(round, self.part);
        self.values.subarray(at, at + block as u32).copy_from(&all[self.part * block..(self.part + 1) * block]);
        Atomics::store(&self.rounds, self.part as u32, round).map_err(|e| format!("Atomics.store: {e:?}"))?;
        Atomics::notify(&self.rounds, self.part as u32).map_err(|e| format!("Atomics.notify: {e:?}"))?;
        for p in (0..self.parts).filter(|&p| p != self.part) {
            self.await_round(p, round)?;
            let at = self.slot_of(round, p);
            self.values.subarray(at, at + block as u32).copy_to(&mut all[p * block..(p + 1) * block]);
        }
        self.round.set(round);
        Ok(())
    }
}
