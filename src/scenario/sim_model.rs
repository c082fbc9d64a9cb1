//! `[sim] model = "FILE"`: a model file for the double — what
//! `iamstorm calibrate` writes from a run against real AWS — and the
//! `[sim.propagation]` reading it shares with the scenario.
//!
//! A model file has the shapes of `[sim.propagation]` (with its `grant` /
//! `revoke` sub-tables) and `[sim.quotas]`, as top-level `[propagation]`
//! and `[quotas]`. It is the base the scenario's own `[sim]` fields
//! override, field by field; its errors point into the model file.

use std::collections::HashMap;

use serde::Deserialize;

use super::diag::SourceFile;
use super::model::{RawPropagation, RawQuotas, Text};
use super::{DelayFields, MAX_REPLICAS, Propagation, Validator, delay_fields};
use crate::sim::consistency::Routing;
use crate::sim::throttle::Quotas;

/// Largest model file read: a calibrated model is a few KiB.
pub const MAX_MODEL_FILE_BYTES: u64 = 256 * 1024;

/// A model file as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawModelFile {
    propagation: Option<RawPropagation>,
    quotas: Option<RawQuotas>,
}

/// What one `[sim.propagation]`-shaped table sets; `None` = not set.
#[derive(Clone, Debug, Default)]
pub(crate) struct PropagationPart {
    pub delay: Option<Propagation>,
    pub grant: Option<Propagation>,
    pub revoke: Option<Propagation>,
    pub replicas: Option<u16>,
    pub routing: Option<Routing>,
}

/// What a model file sets.
#[derive(Clone, Debug, Default)]
pub(crate) struct ModelBase {
    pub propagation: PropagationPart,
    /// The defaults with the file's quotas over them.
    pub quotas: Quotas,
}

impl Validator<'_> {
    /// Reads a `[sim.propagation]`-shaped table; `None` after reporting errors.
    pub(super) fn propagation_part(
        &mut self,
        raw: &RawPropagation,
        section: &str,
    ) -> Option<PropagationPart> {
        let delay = self.delay(delay_fields!(raw), section);
        let sub = |kind: &str| format!("{}.{kind}]", section.trim_end_matches(']'));
        let grant = self.own_delay(raw.grant.as_ref(), &sub("grant"));
        let revoke = self.own_delay(raw.revoke.as_ref(), &sub("revoke"));
        let replicas = match &raw.replicas {
            None => Some(None),
            Some(replicas) => self
                .int(
                    replicas,
                    "replicas",
                    1..=i64::from(MAX_REPLICAS),
                    "replicas is the number of IAM authorizer replicas a change propagates to; the default is 8",
                )
                .map(Some),
        };
        let routing = match raw.routing.as_ref() {
            None => Some(None),
            Some(r) => match r.get_ref().as_str() {
                "random" => Some(Some(Routing::Random)),
                "sticky-connection" => Some(Some(Routing::StickyConnection)),
                "sticky-instance" => Some(Some(Routing::StickyInstance)),
                other => {
                    self.error(
                        r.span(),
                        format!("unknown routing {other:?}"),
                        "use \"random\" (per request), \"sticky-connection\" or \"sticky-instance\"",
                    );
                    None
                }
            },
        };
        Some(PropagationPart {
            delay: delay?,
            grant: grant?,
            revoke: revoke?,
            replicas: replicas?,
            routing: routing?,
        })
    }

    /// Reads and checks the model file `reference` names (relative to the
    /// scenario file); its problems are reported at their place in it.
    pub(super) fn model_file(&mut self, reference: &Text) -> Option<ModelBase> {
        let path = self.base_dir.join(reference.get_ref());
        let help_make = "`iamstorm calibrate RESULTS_DIR` writes one from a run; the path is relative to the scenario file";
        let text = match std::fs::metadata(&path) {
            Ok(meta) if meta.len() > MAX_MODEL_FILE_BYTES => {
                self.error(
                    reference.span(),
                    format!(
                        "model file {} is {} bytes, more than the {MAX_MODEL_FILE_BYTES}-byte limit",
                        path.display(),
                        meta.len()
                    ),
                    "a model file is a few KiB; check that this is the right file",
                );
                return None;
            }
            _ => match std::fs::read_to_string(&path) {
                Ok(text) => text,
                Err(e) => {
                    self.error(
                        reference.span(),
                        format!("cannot read model file {}: {e}", path.display()),
                        help_make,
                    );
                    return None;
                }
            },
        };
        let source = SourceFile::new(path.display().to_string(), text);
        let mut file = Validator {
            source: &source,
            base_dir: self.base_dir,
            diagnostics: Vec::new(),
            documents: HashMap::new(),
        };
        let base = match toml::from_str::<RawModelFile>(source.text()) {
            Ok(raw) => {
                let default = RawPropagation::default();
                let propagation = file.propagation_part(
                    raw.propagation.as_ref().unwrap_or(&default),
                    "[propagation]",
                );
                let quotas = file.quotas(raw.quotas.as_ref(), &Quotas::default());
                propagation
                    .zip(quotas)
                    .map(|(propagation, quotas)| ModelBase {
                        propagation,
                        quotas,
                    })
            }
            Err(e) => {
                file.error(
                    e.span().unwrap_or(0..0),
                    e.message().to_owned(),
                    "a model file holds [propagation] (model, grant, revoke, replicas, routing) and [quotas], as `iamstorm calibrate` writes them",
                );
                None
            }
        };
        let found_problems = !file.diagnostics.is_empty();
        self.diagnostics.append(&mut file.diagnostics);
        if found_problems {
            self.error(
                reference.span(),
                format!(
                    "model file {} has problems, each reported at its place in that file",
                    path.display()
                ),
                help_make,
            );
            return None;
        }
        base
    }
}
