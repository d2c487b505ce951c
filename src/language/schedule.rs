//! Schedules evaluated to per-epoch values: pure functions the runtime calls.

/// Why a range cannot be expanded.
#[derive(Clone, Debug, PartialEq)]
pub enum RangeError {
    /// The step is zero or negative; the direction comes from the ends.
    StepNotPositive,
    /// The steps jump over the end: `0..12 step 5` reaches 10, not 12.
    EndNotReached { last: f64, next: f64 },
    /// More values than anyone means to write.
    TooMany(usize),
}

pub const MAX_RANGE_VALUES: usize = 100_000;

/// `start..end step s`, inclusive of both ends, ascending or descending.
/// Without a step, the step is 1.
pub fn expand_range(start: f64, end: f64, step: Option<f64>) -> Result<Vec<f64>, RangeError> {
    let step = step.unwrap_or(1.0);
    if step <= 0.0 || step.is_nan() {
        return Err(RangeError::StepNotPositive);
    }
    let span = (end - start).abs();
    let n = (span / step).round();
    if n + 1.0 > MAX_RANGE_VALUES as f64 {
        return Err(RangeError::TooMany(n as usize + 1));
    }
    let dir = if end >= start { 1.0 } else { -1.0 };
    let tolerance = 1e-9 * step.max(span).max(1.0);
    if (n * step - span).abs() > tolerance {
        let whole = (span / step).floor();
        let last = start + dir * whole * step;
        return Err(RangeError::EndNotReached {
            last: tidy(last),
            next: tidy(last + dir * step),
        });
    }
    let n = n as usize;
    // Multiply rather than accumulate so 0.25-steps stay exact at the far end.
    Ok((0..=n)
        .map(|i| {
            if i == n {
                end
            } else {
                tidy(start + dir * i as f64 * step)
            }
        })
        .collect())
}

/// Rounds away binary noise (0.30000000000000004 → 0.3) so values print as written.
fn tidy(v: f64) -> f64 {
    (v * 1e9).round() / 1e9
}

/// What one epoch of training uses.
#[derive(Clone, Debug, PartialEq)]
pub enum Epoch<T> {
    /// One value for the whole epoch.
    Fixed(T),
    /// Each batch samples from these, with probabilities the trainer keeps;
    /// `reweigh` says whether Eq. 8 recomputes them after this epoch.
    Sample { from: Vec<T>, reweigh: bool },
}

/// The schedule forms of a `budget …` or `attacks …` statement.
#[derive(Clone, Debug, PartialEq)]
pub enum Schedule<T> {
    Fixed(T),
    /// Moves to the next value every `every` epochs and stays on the last.
    Curriculum {
        values: Vec<T>,
        every: Option<u64>,
    },
    /// Algorithm 1: sample from P, recompute P every min(ξ, K/|ℰ|) epochs.
    Adaptive {
        values: Vec<T>,
        every: Option<u64>,
    },
    Uniform(Vec<T>),
}

impl<T> Schedule<T> {
    /// Every value the schedule can take.
    pub fn values(&self) -> Vec<&T> {
        match self {
            Schedule::Fixed(v) => vec![v],
            Schedule::Curriculum { values, .. }
            | Schedule::Adaptive { values, .. }
            | Schedule::Uniform(values) => values.iter().collect(),
        }
    }

    /// The same schedule over other values (budgets → attacks at those budgets).
    pub fn map<U>(&self, f: impl Fn(&T) -> U) -> Schedule<U> {
        match self {
            Schedule::Fixed(v) => Schedule::Fixed(f(v)),
            Schedule::Curriculum { values, every } => Schedule::Curriculum {
                values: values.iter().map(&f).collect(),
                every: *every,
            },
            Schedule::Adaptive { values, every } => Schedule::Adaptive {
                values: values.iter().map(&f).collect(),
                every: *every,
            },
            Schedule::Uniform(values) => Schedule::Uniform(values.iter().map(&f).collect()),
        }
    }
}

impl<T> Schedule<T> {
    /// [`Schedule::map`] with a conversion that can fail: the first error.
    pub fn try_map<U, E>(&self, f: impl Fn(&T) -> Result<U, E>) -> Result<Schedule<U>, E> {
        let all = |values: &[T]| values.iter().map(&f).collect::<Result<Vec<U>, E>>();
        Ok(match self {
            Schedule::Fixed(v) => Schedule::Fixed(f(v)?),
            Schedule::Curriculum { values, every } => Schedule::Curriculum {
                values: all(values)?,
                every: *every,
            },
            Schedule::Adaptive { values, every } => Schedule::Adaptive {
                values: all(values)?,
                every: *every,
            },
            Schedule::Uniform(values) => Schedule::Uniform(all(values)?),
        })
    }
}

impl<T: Clone> Schedule<T> {
    /// The plan for each of `epochs` epochs.
    pub fn per_epoch(&self, epochs: u64) -> Vec<Epoch<T>> {
        (0..epochs).map(|k| self.at(k, epochs)).collect()
    }

    /// The plan of epoch `epoch` (from 0) of `epochs`, computed alone: no
    /// state grows with the number of epochs.
    pub fn at(&self, epoch: u64, epochs: u64) -> Epoch<T> {
        match self {
            Schedule::Fixed(v) => Epoch::Fixed(v.clone()),
            Schedule::Curriculum { values, every } => {
                let every = every.unwrap_or_else(|| default_every(epochs, values.len()));
                let i = ((epoch / every) as usize).min(values.len() - 1);
                Epoch::Fixed(values[i].clone())
            }
            Schedule::Adaptive { values, every } => {
                let period = adaptive_period(epochs, values.len(), *every);
                let k = epoch + 1;
                Epoch::Sample {
                    from: values.clone(),
                    reweigh: k.is_multiple_of(period) && k < epochs,
                }
            }
            Schedule::Uniform(values) => Epoch::Sample {
                from: values.clone(),
                reweigh: false,
            },
        }
    }
}

/// Without `every`, a curriculum spreads its values evenly over the epochs.
pub fn default_every(epochs: u64, values: usize) -> u64 {
    (epochs / values.max(1) as u64).max(1)
}

/// Algorithm 1, line 10: P is recomputed when k mod min(ξ, K/|ℰ|) = 0.
pub fn adaptive_period(epochs: u64, values: usize, every: Option<u64>) -> u64 {
    let spread = default_every(epochs, values);
    every.map_or(spread, |xi| xi.min(spread)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn curriculum_0_to_12_every_10_over_70_epochs() {
        let values = expand_range(0.0, 12.0, Some(2.0)).unwrap();
        assert_eq!(values, vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0, 12.0]);
        let plan = Schedule::Curriculum {
            values,
            every: Some(10),
        }
        .per_epoch(70);
        let got: Vec<f64> = plan
            .iter()
            .map(|e| match e {
                Epoch::Fixed(v) => *v,
                _ => panic!(),
            })
            .collect();
        let mut want = Vec::new();
        for v in [0.0, 2.0, 4.0, 6.0, 8.0, 10.0, 12.0] {
            want.extend(std::iter::repeat_n(v, 10));
        }
        assert_eq!(got, want);
    }

    #[test]
    fn descending_curriculum_and_overrun_stays_on_last() {
        let values = expand_range(12.0, 0.0, Some(4.0)).unwrap();
        assert_eq!(values, vec![12.0, 8.0, 4.0, 0.0]);
        let plan = Schedule::Curriculum {
            values,
            every: Some(2),
        }
        .per_epoch(10);
        assert_eq!(plan[0], Epoch::Fixed(12.0));
        assert_eq!(plan[7], Epoch::Fixed(0.0));
        assert_eq!(plan[9], Epoch::Fixed(0.0));
    }

    #[test]
    fn curriculum_without_every_spreads_evenly() {
        let plan = Schedule::Curriculum {
            values: vec![0.0, 4.0, 8.0],
            every: None,
        }
        .per_epoch(9);
        let fixed: Vec<_> = plan
            .into_iter()
            .map(|e| match e {
                Epoch::Fixed(v) => v,
                _ => -1.0,
            })
            .collect();
        assert_eq!(fixed, vec![0.0, 0.0, 0.0, 4.0, 4.0, 4.0, 8.0, 8.0, 8.0]);
    }

    #[test]
    fn fractional_range_is_exact_at_both_ends() {
        let v = expand_range(0.25, 16.0, Some(0.25)).unwrap();
        assert_eq!(v.len(), 64);
        assert_eq!(v[0], 0.25);
        assert_eq!(v[1], 0.5);
        assert_eq!(*v.last().unwrap(), 16.0);
        assert_eq!(expand_range(1.0, 20.0, None).unwrap().len(), 20);
        assert_eq!(expand_range(5.0, 5.0, Some(2.0)).unwrap(), vec![5.0]);
    }

    #[test]
    fn range_errors() {
        assert_eq!(
            expand_range(0.0, 12.0, Some(0.0)),
            Err(RangeError::StepNotPositive)
        );
        assert_eq!(
            expand_range(12.0, 0.0, Some(-2.0)),
            Err(RangeError::StepNotPositive)
        );
        assert_eq!(
            expand_range(0.0, 12.0, Some(5.0)),
            Err(RangeError::EndNotReached {
                last: 10.0,
                next: 15.0
            })
        );
        assert!(matches!(
            expand_range(0.0, 1e9, Some(1.0)),
            Err(RangeError::TooMany(_))
        ));
    }

    #[test]
    fn adaptive_reweighs_every_min_xi_and_k_over_b() {
        // 7 budgets, 70 epochs, ξ = 10: min(10, 70/7) = 10 → after epochs 10, 20, …, 60.
        let plan = Schedule::Adaptive {
            values: vec![0, 2, 4, 6, 8, 10, 12],
            every: Some(10),
        }
        .per_epoch(70);
        let reweigh: Vec<usize> = plan
            .iter()
            .enumerate()
            .filter(|(_, e)| matches!(e, Epoch::Sample { reweigh: true, .. }))
            .map(|(i, _)| i + 1)
            .collect();
        assert_eq!(reweigh, vec![10, 20, 30, 40, 50, 60]);
        // ξ = 10 but only 14 epochs for 7 budgets: min(10, 2) = 2.
        assert_eq!(adaptive_period(14, 7, Some(10)), 2);
    }
}
