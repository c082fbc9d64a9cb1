//! EC2 actions on the simulated instances, through the double's EC2 Query
//! API (double only: the instances live in the double): `swap-instance-profile`
//! replaces each running instance's instance-profile association (IMDS serves
//! the new role after the association lag), `reboot-instance` reboots them
//! (applying a pending association at once) — the runbook's "swap the profile,
//! then reboot".

use super::{Applied, Launcher};
use crate::fleet::Fleet;
use crate::target::ec2::{Ec2Client, texts};

fn applied(label: String, result: Result<(), String>) -> Applied {
    Applied {
        label,
        truth_label: String::new(),
        result,
    }
}

fn instance_ids(fleet: &Fleet, group: Option<&str>) -> Vec<String> {
    let groups = group.map(|g| vec![g.to_owned()]);
    fleet
        .active(groups.as_deref())
        .iter()
        .map(|i| i.instance_id.clone())
        .collect()
}

fn scope(group: Option<&str>, n: usize) -> String {
    match group {
        Some(g) => format!("{n} instance(s) of {g}"),
        None => format!("{n} instance(s)"),
    }
}

pub async fn swap_instance_profile(
    ec2: &Ec2Client,
    fleet: &Fleet,
    group: Option<&str>,
    profile: &str,
) -> Applied {
    let ids = instance_ids(fleet, group);
    let label = format!(
        "swap-instance-profile {profile} on {}",
        scope(group, ids.len())
    );
    let listed = match ec2
        .call("DescribeIamInstanceProfileAssociations", &[])
        .await
    {
        Ok(xml) => xml,
        Err(e) => return applied(label, Err(e)),
    };
    // Each association item names its id and its instance, in that order.
    let associations: Vec<(String, String)> = texts(&listed, "associationId")
        .into_iter()
        .zip(texts(&listed, "instanceId"))
        .collect();
    for id in &ids {
        let result = match associations.iter().find(|(_, instance)| instance == id) {
            Some((association, _)) => {
                ec2.call(
                    "ReplaceIamInstanceProfileAssociation",
                    &[
                        ("AssociationId", association),
                        ("IamInstanceProfile.Name", profile),
                    ],
                )
                .await
            }
            None => {
                ec2.call(
                    "AssociateIamInstanceProfile",
                    &[("InstanceId", id), ("IamInstanceProfile.Name", profile)],
                )
                .await
            }
        };
        if let Err(e) = result {
            return applied(label, Err(format!("{id}: {e}")));
        }
    }
    applied(label, Ok(()))
}

/// Reboots the group's running instances; with a launcher, each app then
/// restarts too (new SDK clients, an empty identity cache, a timed boot), as
/// a real reboot restarts the process that cached the old credentials.
pub async fn reboot_instance(
    ec2: &Ec2Client,
    fleet: &Fleet,
    launcher: Option<&Launcher>,
    group: Option<&str>,
) -> Applied {
    let ids = instance_ids(fleet, group);
    let label = format!("reboot-instance {}", scope(group, ids.len()));
    if ids.is_empty() {
        return applied(label, Ok(()));
    }
    let keys: Vec<String> = (1..=ids.len()).map(|i| format!("InstanceId.{i}")).collect();
    let params: Vec<(&str, &str)> = keys
        .iter()
        .zip(&ids)
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    if let Err(e) = ec2.call("RebootInstances", &params).await {
        return applied(label, Err(e));
    }
    let Some(launcher) = launcher else {
        return applied(label, Ok(()));
    };
    let groups = group.map(|g| vec![g.to_owned()]);
    let at_s = launcher.t0.elapsed().as_secs_f64();
    let old = fleet.active(groups.as_deref());
    let restarts = futures::future::join_all(
        old.iter()
            .map(|i| crate::fleet::restart(&launcher.target, i, &launcher.sdk, at_s)),
    )
    .await;
    let mut failed = 0;
    for (before, after) in old.iter().zip(restarts) {
        match after {
            Ok(new) => {
                failed += usize::from(
                    new.boot.outcome.class != crate::observe::outcome::OutcomeClass::Ok,
                );
                fleet.replace(before, new);
            }
            Err(e) => return applied(label, Err(e.to_string())),
        }
    }
    applied(
        format!("{label}; apps restarted, {failed} without credentials at boot"),
        Ok(()),
    )
}
