//! The EC2 actions the double serves, over the simulated instances:
//! describe them and their profile associations, change associations,
//! reboot, and set metadata options. Each authorizes through `Ctx` (IAM
//! action `ec2:…` on the instance ARN, `*` for Describe*, plus
//! `iam:PassRole` on the role when a profile is attached) and answers
//! errors with EC2's codes and messages.

use std::sync::Arc;

use super::Ctx;
use super::wire::{Filter, el, filters, list, set};
use crate::sim::clock::iso8601;
use crate::sim::imds::association::Association;
use crate::sim::imds::{self, Instance, MetadataOptions};
use crate::sim::query::{Params, QueryError};

/// Every action this front end knows.
pub const ACTIONS: &[&str] = &[
    "DescribeInstances",
    "DescribeIamInstanceProfileAssociations",
    "AssociateIamInstanceProfile",
    "DisassociateIamInstanceProfile",
    "ReplaceIamInstanceProfileAssociation",
    "RebootInstances",
    "ModifyInstanceMetadataOptions",
];

fn invalid(message: impl Into<String>) -> QueryError {
    QueryError::new(400, "InvalidParameterValue", message)
}

fn missing(name: &str) -> QueryError {
    QueryError::new(
        400,
        "MissingParameter",
        format!("The request must contain the parameter {name}"),
    )
}

fn required<'p>(params: &'p Params, name: &str) -> Result<&'p str, QueryError> {
    params
        .get(name)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| missing(name))
}

/// `i-` followed by 8 or 17 hex digits, as EC2 checks before looking up.
fn well_formed_instance_id(id: &str) -> bool {
    id.strip_prefix("i-").is_some_and(|h| {
        (h.len() == 8 || h.len() == 17) && h.bytes().all(|b| b.is_ascii_hexdigit())
    })
}

/// Looks instances up; EC2 reports every unknown id in one message.
fn instances(ctx: &Ctx<'_>, ids: &[String]) -> Result<Vec<Arc<Instance>>, QueryError> {
    if let Some(bad) = ids.iter().find(|i| !well_formed_instance_id(i)) {
        return Err(QueryError::new(
            400,
            "InvalidInstanceID.Malformed",
            format!("Invalid id: \"{bad}\""),
        ));
    }
    let mut found = Vec::new();
    let mut unknown = Vec::new();
    for id in ids {
        match imds::find(ctx.state, id) {
            Some(i) => found.push(i),
            None => unknown.push(id.as_str()),
        }
    }
    match unknown.as_slice() {
        [] => Ok(found),
        [one] => Err(QueryError::new(
            400,
            "InvalidInstanceID.NotFound",
            format!("The instance ID '{one}' does not exist"),
        )),
        many => Err(QueryError::new(
            400,
            "InvalidInstanceID.NotFound",
            format!("The instance IDs '{}' do not exist", many.join(", ")),
        )),
    }
}

/// `<iamInstanceProfile><arn/><id/></iamInstanceProfile>` for a profile name
/// (ARN and id from the newest IAM snapshot; a deleted profile keeps a
/// synthesized ARN, as EC2 keeps the association).
fn profile_xml(ctx: &Ctx<'_>, profile: &str) -> (String, String) {
    let snap = ctx.state.iam_read().latest();
    let (arn, id) = snap.profiles.get(profile).map_or_else(
        || {
            (
                format!(
                    "arn:aws:iam::{}:instance-profile/{profile}",
                    ctx.state.config.account_id
                ),
                String::new(),
            )
        },
        |p| (p.arn.clone(), p.id.clone()),
    );
    (
        format!(
            "<iamInstanceProfile>{}{}</iamInstanceProfile>",
            el("arn", &arn),
            el("id", &id)
        ),
        arn,
    )
}

fn association_xml(ctx: &Ctx<'_>, instance: &Instance, a: &Association, state: &str) -> String {
    format!(
        "{}{}{}{}{}",
        el("associationId", &a.id),
        el("instanceId", &instance.id),
        profile_xml(ctx, &a.profile).0,
        el("state", state),
        el("timestamp", &iso8601(a.since)),
    )
}

fn metadata_xml(m: &MetadataOptions, state: &str) -> String {
    format!(
        "{}{}{}{}{}{}",
        el("state", state),
        el(
            "httpTokens",
            if m.http_tokens_required {
                "required"
            } else {
                "optional"
            }
        ),
        el("httpPutResponseHopLimit", &m.hop_limit.to_string()),
        el(
            "httpEndpoint",
            if m.endpoint_enabled {
                "enabled"
            } else {
                "disabled"
            }
        ),
        el("httpProtocolIpv6", "disabled"),
        el("instanceMetadataTags", "disabled"),
    )
}

fn instance_xml(ctx: &Ctx<'_>, i: &Instance) -> String {
    let region = &ctx.state.config.region;
    let profile = i
        .association()
        .map(|a| profile_xml(ctx, &a.profile).0)
        .unwrap_or_default();
    format!(
        "{}{}<instanceState><code>16</code><name>running</name></instanceState>{}{}{}{}<placement>{}<tenancy>default</tenancy></placement>{}{}<architecture>x86_64</architecture><rootDeviceType>ebs</rootDeviceType>{}<metadataOptions>{}</metadataOptions>",
        el("instanceId", &i.id),
        el("imageId", "ami-0123456789abcdef0"),
        el(
            "privateDnsName",
            &format!("ip-{}.ec2.internal", i.private_ip.replace('.', "-"))
        ),
        el("amiLaunchIndex", "0"),
        el("instanceType", "t3.micro"),
        el("launchTime", &iso8601(i.launched_at)),
        el("availabilityZone", &format!("{region}a")),
        el("privateIpAddress", &i.private_ip),
        el("vpcId", "vpc-0a1b2c3d4e5f67890"),
        profile,
        metadata_xml(&i.metadata(), "applied"),
    )
}

fn check_filter_names(fs: &[Filter], known: &[&str]) -> Result<(), QueryError> {
    match fs.iter().find(|f| !known.contains(&f.name.as_str())) {
        Some(f) => Err(invalid(format!("The filter '{}' is invalid", f.name))),
        None => Ok(()),
    }
}

pub fn describe_instances(ctx: &Ctx<'_>, params: &Params) -> Result<String, QueryError> {
    ctx.authorize("ec2:DescribeInstances", "*")?;
    let ids = list(params, "InstanceId");
    let fs = filters(params);
    check_filter_names(
        &fs,
        &[
            "instance-id",
            "iam-instance-profile.arn",
            "instance-state-name",
        ],
    )?;
    let chosen = if ids.is_empty() {
        imds::all(ctx.state)
    } else {
        instances(ctx, &ids)?
    };
    let account = &ctx.state.config.account_id;
    let items: Vec<String> = chosen
        .iter()
        .filter(|i| {
            fs.iter().all(|f| {
                let value = match f.name.as_str() {
                    "instance-id" => Some(i.id.clone()),
                    "iam-instance-profile.arn" => {
                        i.association().map(|a| profile_xml(ctx, &a.profile).1)
                    }
                    _ => Some("running".to_owned()),
                };
                value.is_some_and(|v| f.values.iter().any(|w| w == &v))
            })
        })
        .map(|i| {
            format!(
                "{}{}<groupSet/>{}",
                el("reservationId", &format!("r-{}", &i.id[2..])),
                el("ownerId", account),
                set("instancesSet", &[instance_xml(ctx, i)]),
            )
        })
        .collect();
    Ok(set("reservationSet", &items))
}

pub fn describe_associations(ctx: &Ctx<'_>, params: &Params) -> Result<String, QueryError> {
    ctx.authorize("ec2:DescribeIamInstanceProfileAssociations", "*")?;
    let ids = list(params, "AssociationId");
    let fs = filters(params);
    check_filter_names(&fs, &["instance-id", "state"])?;
    let mut items = Vec::new();
    let mut seen = Vec::new();
    for i in imds::all(ctx.state) {
        let Some(a) = i.association() else { continue };
        if !ids.is_empty() && !ids.contains(&a.id) {
            continue;
        }
        seen.push(a.id.clone());
        let keep = fs.iter().all(|f| {
            let v = if f.name == "instance-id" {
                i.id.as_str()
            } else {
                "associated"
            };
            f.values.iter().any(|w| w == v)
        });
        if keep {
            items.push(association_xml(ctx, &i, &a, "associated"));
        }
    }
    if let Some(unknown) = ids.iter().find(|id| !seen.contains(id)) {
        return Err(association_not_found(unknown));
    }
    Ok(set("iamInstanceProfileAssociationSet", &items))
}

fn association_not_found(id: &str) -> QueryError {
    QueryError::new(
        400,
        "InvalidAssociationID.NotFound",
        format!("The association ID '{id}' does not exist"),
    )
}

/// The instance currently holding association `id`.
fn by_association(ctx: &Ctx<'_>, id: &str) -> Result<(Arc<Instance>, Association), QueryError> {
    imds::all(ctx.state)
        .into_iter()
        .find_map(|i| {
            let a = i.association().filter(|a| a.id == id)?;
            Some((i, a))
        })
        .ok_or_else(|| association_not_found(id))
}

/// `IamInstanceProfile.Name` or `.Arn` → (profile name, its role), checked
/// against the newest IAM snapshot.
fn profile_spec(ctx: &Ctx<'_>, params: &Params) -> Result<(String, Option<String>), QueryError> {
    let snap = ctx.state.iam_read().latest();
    if let Some(name) = params.get("IamInstanceProfile.Name") {
        return snap
            .profiles
            .get(name)
            .map(|p| (p.name.clone(), p.role.clone()))
            .ok_or_else(|| {
                invalid(format!(
                    "Value ({name}) for parameter iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name"
                ))
            });
    }
    if let Some(arn) = params.get("IamInstanceProfile.Arn") {
        return snap
            .profiles
            .values()
            .find(|p| p.arn == arn)
            .map(|p| (p.name.clone(), p.role.clone()))
            .ok_or_else(|| {
                invalid(format!(
                    "Value ({arn}) for parameter iamInstanceProfile.arn is invalid. Invalid IAM Instance Profile ARN"
                ))
            });
    }
    Err(missing("IamInstanceProfile"))
}

/// Attaching a profile passes its role: `iam:PassRole` on the role.
fn authorize_pass_role(ctx: &Ctx<'_>, role: Option<&str>) -> Result<(), QueryError> {
    match role {
        Some(r) => ctx.authorize(
            "iam:PassRole",
            &format!("arn:aws:iam::{}:role/{r}", ctx.state.config.account_id),
        ),
        None => Ok(()),
    }
}

fn wrap_association(ctx: &Ctx<'_>, i: &Instance, a: &Association, state: &str) -> String {
    format!(
        "<iamInstanceProfileAssociation>{}</iamInstanceProfileAssociation>",
        association_xml(ctx, i, a, state)
    )
}

pub fn associate(ctx: &Ctx<'_>, params: &Params) -> Result<String, QueryError> {
    let id = required(params, "InstanceId")?.to_owned();
    let instance = instances(ctx, &[id])?.remove(0);
    ctx.authorize(
        "ec2:AssociateIamInstanceProfile",
        &ctx.instance_arn(&instance),
    )?;
    let (profile, role) = profile_spec(ctx, params)?;
    authorize_pass_role(ctx, role.as_deref())?;
    if instance.association().is_some() {
        return Err(QueryError::new(
            400,
            "IncorrectState",
            format!(
                "There is an existing association for instance {}",
                instance.id
            ),
        ));
    }
    let a = instance.new_association(ctx.state.config.seed, profile);
    instance.set_association(Some(a.clone()), ctx.state.config.imds_association_lag);
    Ok(wrap_association(ctx, &instance, &a, "associating"))
}

pub fn disassociate(ctx: &Ctx<'_>, params: &Params) -> Result<String, QueryError> {
    let id = required(params, "AssociationId")?;
    let (instance, a) = by_association(ctx, id)?;
    ctx.authorize(
        "ec2:DisassociateIamInstanceProfile",
        &ctx.instance_arn(&instance),
    )?;
    instance.set_association(None, ctx.state.config.imds_association_lag);
    Ok(wrap_association(ctx, &instance, &a, "disassociating"))
}

pub fn replace(ctx: &Ctx<'_>, params: &Params) -> Result<String, QueryError> {
    let id = required(params, "AssociationId")?;
    let (instance, _) = by_association(ctx, id)?;
    ctx.authorize(
        "ec2:ReplaceIamInstanceProfileAssociation",
        &ctx.instance_arn(&instance),
    )?;
    let (profile, role) = profile_spec(ctx, params)?;
    authorize_pass_role(ctx, role.as_deref())?;
    let a = instance.new_association(ctx.state.config.seed, profile);
    instance.set_association(Some(a.clone()), ctx.state.config.imds_association_lag);
    Ok(wrap_association(ctx, &instance, &a, "associating"))
}

pub fn reboot(ctx: &Ctx<'_>, params: &Params) -> Result<String, QueryError> {
    let ids = list(params, "InstanceId");
    if ids.is_empty() {
        return Err(missing("InstanceId"));
    }
    let chosen = instances(ctx, &ids)?;
    for i in &chosen {
        ctx.authorize("ec2:RebootInstances", &ctx.instance_arn(i))?;
    }
    for i in &chosen {
        i.reboot();
    }
    Ok(el("return", "true"))
}

pub fn modify_metadata_options(ctx: &Ctx<'_>, params: &Params) -> Result<String, QueryError> {
    let id = required(params, "InstanceId")?.to_owned();
    let instance = instances(ctx, &[id])?.remove(0);
    ctx.authorize(
        "ec2:ModifyInstanceMetadataOptions",
        &ctx.instance_arn(&instance),
    )?;
    let mut m = instance.metadata();
    if let Some(t) = params.get("HttpTokens") {
        m.http_tokens_required = match t {
            "required" => true,
            "optional" => false,
            other => {
                return Err(invalid(format!(
                    "Value ({other}) for parameter HttpTokens is invalid. Valid values: optional, required"
                )));
            }
        };
    }
    if let Some(h) = params.get("HttpPutResponseHopLimit") {
        m.hop_limit = h
            .parse::<u8>()
            .ok()
            .filter(|h| (1..=64).contains(h))
            .ok_or_else(|| {
                invalid(format!(
                    "Value ({h}) for parameter HttpPutResponseHopLimit is invalid. Valid values: 1 through 64"
                ))
            })?;
    }
    if let Some(e) = params.get("HttpEndpoint") {
        m.endpoint_enabled = match e {
            "enabled" => true,
            "disabled" => false,
            other => {
                return Err(invalid(format!(
                    "Value ({other}) for parameter HttpEndpoint is invalid. Valid values: enabled, disabled"
                )));
            }
        };
    }
    instance.set_metadata(m);
    Ok(format!(
        "{}<instanceMetadataOptions>{}</instanceMetadataOptions>",
        el("instanceId", &instance.id),
        metadata_xml(&m, "pending")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_ids_are_checked_for_shape() {
        assert!(well_formed_instance_id("i-0123456789abcdef0"));
        assert!(well_formed_instance_id("i-1234abcd"));
        assert!(!well_formed_instance_id("i-xyz"));
        assert!(!well_formed_instance_id("0123456789abcdef0"));
    }
}
