//! `--shard K/N`: a deterministic share of a job list, balanced by recorded cost, so N CI runners
//! split a suite and `bootlab merge` joins their results.
//!
//! Each item has a key (a scenario name, or a matrix cell `scenario@kind=profile`) and a cost in
//! seconds from the committed cost table (`scenarios/costs.tsv`; an item missing from it costs the
//! table's mean). Items go longest first, ties by key, each into the bin with the least cost so
//! far (ties to the lowest bin): every runner computes the same partition without talking to the
//! others, and together the N shards hold every item exactly once.
//!
//! The table is regenerated from a full run's results with `bootlab merge ... --costs
//! scenarios/costs.tsv` (see the README).

use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;

/// Shard `index` (1-based) of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// 1..=count.
    pub index: usize,
    /// How many shards there are, at least 1.
    pub count: usize,
}

impl FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> Result<Shard, String> {
        let bad = || format!("{s:?}: expected K/N with 1 <= K <= N, e.g. 2/4");
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let index: usize = k.trim().parse().map_err(|_| bad())?;
        let count: usize = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || index == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// Recorded seconds per key.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Costs(pub BTreeMap<String, f64>);

/// The file name of the cost table in the scenarios directory.
pub const COSTS_FILE: &str = "costs.tsv";

impl Costs {
    /// Reads `KEY<TAB>SECONDS` lines (`#` comments); a missing file is an empty table.
    pub fn load(path: &Path) -> anyhow::Result<Costs> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Costs::default()),
            Err(e) => anyhow::bail!("{}: {e}", path.display()),
        };
        let mut map = BTreeMap::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let parsed = line
                .split_once('\t')
                .and_then(|(k, v)| Some((k.trim(), v.trim().parse::<f64>().ok()?)))
                .filter(|(_, v)| v.is_finite() && *v >= 0.0);
            match parsed {
                Some((k, v)) => {
                    map.insert(k.to_string(), v);
                }
                None => anyhow::bail!(
                    "{}:{}: expected KEY<TAB>SECONDS, got {line:?}",
                    path.display(),
                    i + 1
                ),
            }
        }
        Ok(Costs(map))
    }

    /// The table as written to `costs.tsv`.
    pub fn render(&self) -> String {
        let mut out = String::from(
            "# Seconds per scenario (and per matrix cell scenario@kind=profile) from a full run, for\n\
             # `--shard K/N`. Regenerate: see README (\"Splitting the suite across CI runners\").\n",
        );
        for (k, v) in &self.0 {
            out.push_str(&format!("{k}\t{v:.1}\n"));
        }
        out
    }

    /// The cost of `key`: recorded, else the table's mean (1 s for an empty table).
    pub fn of(&self, key: &str) -> f64 {
        self.0.get(key).copied().unwrap_or_else(|| {
            if self.0.is_empty() {
                1.0
            } else {
                self.0.values().sum::<f64>() / self.0.len() as f64
            }
        })
    }
}

/// The bin (0-based) of each item, `items` being `(key, cost)`: longest first, ties by key, each
/// into the least-loaded bin.
pub fn partition(items: &[(String, f64)], bins: usize) -> Vec<usize> {
    let bins = bins.max(1);
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by(|&a, &b| {
        items[b]
            .1
            .total_cmp(&items[a].1)
            .then_with(|| items[a].0.cmp(&items[b].0))
            .then(a.cmp(&b))
    });
    let mut load = vec![0.0f64; bins];
    let mut bin_of = vec![0; items.len()];
    for i in order {
        let mut best = 0;
        for b in 1..bins {
            if load[b] < load[best] {
                best = b;
            }
        }
        load[best] += items[i].1;
        bin_of[i] = best;
    }
    bin_of
}

impl Costs {
    /// The cost of a matrix cell: recorded, else its scenario's (a peer takes about as long as
    /// ours), else the mean.
    pub fn of_cell(&self, scenario: &str, key: &str) -> f64 {
        match (self.0.get(key), self.0.get(scenario)) {
            (Some(c), _) | (None, Some(c)) => *c,
            (None, None) => self.of(key),
        }
    }
}

/// The items of `shard`, in their original order; `cost_key` gives each its key and cost.
pub fn pick<T>(items: Vec<T>, shard: Shard, cost_key: impl Fn(&T) -> (String, f64)) -> Vec<T> {
    let keyed: Vec<(String, f64)> = items.iter().map(cost_key).collect();
    let bins = partition(&keyed, shard.count);
    items
        .into_iter()
        .zip(bins)
        .filter(|(_, b)| *b + 1 == shard.index)
        .map(|(t, _)| t)
        .collect()
}

/// The cost-table key of a matrix cell.
pub fn cell_key(scenario: &str, kind: impl std::fmt::Display, profile: &str) -> String {
    format!("{scenario}@{kind}={profile}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_syntax() {
        assert_eq!("2/3".parse(), Ok(Shard { index: 2, count: 3 }));
        for bad in ["0/3", "4/3", "1/0", "1", "a/b", "-1/2"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }

    #[test]
    fn shards_partition_exactly_and_balance() {
        let items: Vec<(String, f64)> = (0..40)
            .map(|i| (format!("s{i:02}"), f64::from(i % 7 + 1)))
            .collect();
        for n in 1..=6 {
            let mut seen = vec![0; items.len()];
            let mut loads = Vec::new();
            for k in 1..=n {
                let mine = pick(
                    (0..items.len()).collect(),
                    Shard { index: k, count: n },
                    |&i| items[i].clone(),
                );
                loads.push(mine.iter().map(|&i| items[i].1).sum::<f64>());
                for i in mine {
                    seen[i] += 1;
                }
            }
            assert!(seen.iter().all(|c| *c == 1), "n={n}: {seen:?}");
            let (lo, hi) = loads
                .iter()
                .fold((f64::MAX, 0.0f64), |(l, h), x| (l.min(*x), h.max(*x)));
            // Greedy longest-first is within the largest item of the best split.
            assert!(hi - lo <= 7.0, "n={n}: {loads:?}");
        }
        // Deterministic: the same input gives the same bins.
        assert_eq!(partition(&items, 4), partition(&items, 4));
    }

    #[test]
    fn costs_round_trip_and_default_to_the_mean() {
        let c = Costs([("a".to_string(), 2.0), ("b".to_string(), 4.0)].into());
        let dir = std::env::temp_dir().join(format!("bootlab-costs-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let p = dir.join(COSTS_FILE);
        let _ = std::fs::write(&p, c.render());
        let back = Costs::load(&p).ok();
        assert_eq!(back.as_ref(), Some(&c));
        assert_eq!(c.of("zzz"), 3.0);
        assert_eq!(c.of_cell("a", "a@dhcp-server=kea"), 2.0);
        assert_eq!(c.of_cell("x", "x@dhcp-server=kea"), 3.0);
        assert!(Costs::load(&dir.join("missing.tsv")).is_ok_and(|c| c.0.is_empty()));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
