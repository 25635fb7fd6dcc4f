//! Learning-rate schedule: linear warm-up from 0, then linear decay to 0 (BERT's schedule).

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinearSchedule {
    pub peak: f64,
    pub warmup_steps: usize,
    pub total_steps: usize,
}

impl LinearSchedule {
    pub fn new(peak: f64, total_steps: usize, warmup_ratio: f64) -> Self {
        Self { peak, warmup_steps: (total_steps as f64 * warmup_ratio).round() as usize, total_steps }
    }

    /// The learning rate of step `step` (0-based), as HF's `get_linear_schedule_with_warmup`.
    pub fn lr(&self, step: usize) -> f64 {
        if step < self.warmup_steps {
            return self.peak * step as f64 / self.warmup_steps.max(1) as f64;
        }
        let rest = self.total_steps.saturating_sub(self.warmup_steps).max(1) as f64;
        self.peak * (self.total_steps.saturating_sub(step) as f64 / rest).max(0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warmup_then_decay() {
        let s = LinearSchedule::new(1e-4, 100, 0.1);
        assert_eq!(s.lr(0), 0.0);
        assert!((s.lr(5) - 5e-5).abs() < 1e-12);
        assert!((s.lr(10) - 1e-4).abs() < 1e-12);
        assert!((s.lr(55) - 5e-5).abs() < 1e-12);
        assert_eq!(s.lr(100), 0.0);
    }
}
