//! `[[load]] mix = [{ op, weight, size }, ...]`: several ops sharing one
//! entry's rate by weight. A mix is expanded, before validation, into one
//! entry per op named `NAME/OP`, whose rate profile is the entry's scaled
//! by the op's share of the weights. Splitting a Poisson stream by
//! independent weighted choice gives independent Poisson streams at the
//! scaled rates, so this is the weighted choice exactly (and, with uniform
//! arrivals, its deterministic version); every op keeps its own row in
//! reports, thresholds and `{op=...}` filters. Open model only: a closed
//! worker loop has no rate to share.

use toml::Spanned;

use super::model::{RawLoad, Section};
use super::{Op, Validator};

/// Most ops in one mix.
pub const MAX_MIX_OPS: usize = 8;
/// Highest weight of one op.
pub const MAX_WEIGHT: i64 = 10_000;

impl Validator<'_> {
    /// Every `mix` entry expanded into one entry per op; `op`/`mix`
    /// exclusivity, weights and mix-level shape checked here, the rest of
    /// each expanded entry by the usual validation.
    pub(super) fn expand_mixes(&mut self, section: &Section<RawLoad>) -> Section<RawLoad> {
        let mut out = Section {
            items: Vec::with_capacity(section.items.len()),
            complete: section.complete,
        };
        for raw in &section.items {
            match (&raw.op, &raw.mix) {
                (Some(_), None) => out.items.push(raw.clone()),
                (Some(op), Some(_)) => {
                    self.error(
                        op.span(),
                        "a [[load]] has either `op` or `mix`, not both",
                        "keep `op` for one operation, or move it into the mix as { op = \"...\", weight = N }",
                    );
                    out.complete = false;
                }
                (None, None) => {
                    let span = raw.name.as_ref().map_or(0..0, |n| n.span());
                    self.error(
                        span,
                        "a [[load]] needs `op` (or `mix`)",
                        "add op = \"s3:GetObject\", or mix = [{ op = \"s3:GetObject\", weight = 9 }, { op = \"s3:PutObject\", weight = 1 }]",
                    );
                    out.complete = false;
                }
                (None, Some(mix)) => match self.expand(raw, mix) {
                    Some(expanded) => out.items.extend(expanded),
                    None => out.complete = false,
                },
            }
        }
        out
    }

    fn expand(
        &mut self,
        raw: &RawLoad,
        mix: &Spanned<Vec<super::model::RawMixItem>>,
    ) -> Option<Vec<RawLoad>> {
        let items = mix.get_ref();
        let mut ok = true;
        if items.is_empty() || items.len() > MAX_MIX_OPS {
            self.error(
                mix.span(),
                format!("a mix has 1 to {MAX_MIX_OPS} ops (got {})", items.len()),
                "list each op once with its weight: mix = [{ op = \"s3:GetObject\", weight = 9 }, ...]",
            );
            return None;
        }
        if let Some(m) = &raw.model
            && m.get_ref() == "closed"
        {
            self.error(
                m.span(),
                "a mix shares a rate, so it needs the open model",
                "give the entry a rate profile (rate, ramp, steps, spike or sine), or one [[load]] per op for closed workers",
            );
            ok = false;
        }
        if let Some(size) = &raw.size {
            self.error(
                size.span(),
                "in a mix, `size` goes on the s3:PutObject item",
                "write mix = [{ op = \"s3:PutObject\", weight = 1, size = \"64KiB\" }, ...]",
            );
            ok = false;
        }
        let mut weights = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            if items[..i]
                .iter()
                .any(|o| o.op.get_ref() == item.op.get_ref())
            {
                self.error(
                    item.op.span(),
                    format!("{} appears twice in the mix", item.op.get_ref()),
                    "list each op once; its weight is its share",
                );
                ok = false;
            }
            let weight = self.int::<u64>(
                &item.weight,
                "weight",
                1..=MAX_WEIGHT,
                "a weight is the op's share relative to the others, e.g. 9 reads to 1 write",
            );
            ok &= weight.is_some();
            weights.push(weight.unwrap_or(1));
        }
        if !ok {
            return None;
        }
        let total: u64 = weights.iter().sum();
        let base = raw.name.as_ref().map_or("mix", |n| n.get_ref().as_str());
        Some(
            items
                .iter()
                .zip(weights)
                .map(|(item, weight)| {
                    let op_name = Op::from_name(item.op.get_ref())
                        .map_or_else(|| item.op.get_ref().clone(), |op| op.as_str().to_owned());
                    RawLoad {
                        name: Some(Spanned::new(
                            raw.name.as_ref().map_or(item.op.span(), |n| n.span()),
                            format!("{base}/{op_name}"),
                        )),
                        op: Some(item.op.clone()),
                        mix: None,
                        size: item.size.clone(),
                        mix_share: Some((weight, total)),
                        ..raw.clone()
                    }
                })
                .collect(),
        )
    }
}
