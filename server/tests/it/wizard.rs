//! What the creation wizard reads from the server (`ContainerService::wizard`,
//! `node_choices`, `check_vmid`) and the list and detail pages read (`list`, `detail`),
//! against a lab node: the user's nodes with the reason one cannot be chosen, a node's
//! storages, OS templates, bridges and next VMID, a typed VMID checked among Kiln's
//! containers and on the node, and nobody else's containers or nodes.

use kiln_server::lab::RuntimeKind;
use kiln_server::proxmox::ProxmoxApi;
use kiln_shared::AppError;
use kiln_shared::containers::{ContainerStatus, validate_hostname, validate_root_password};

use crate::containers::{actor, node_ssh, request, setup_paused, template};
use crate::lab_fixture::{R, container};

fn field(err: &AppError, name: &str) -> Option<String> {
    match err {
        AppError::Invalid(fields) => fields.get(name).map(str::to_owned),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_wizard_offers_the_users_nodes_templates_a_free_name_and_a_password() -> R {
    let s = setup_paused(RuntimeKind::Scratch).await?;
    let service = s.service();
    // A container already named like a suggestion would be: the wizard avoids taken names.
    service
        .create(&s.actor, request(s.node_id, "taken-1"))
        .await?;

    let start = service.wizard(&s.actor, None).await?;
    assert_eq!(start.nodes.len(), 1);
    let node = &start.nodes[0];
    assert_eq!(node.id, s.node_id);
    let why = node.unavailable.as_deref().unwrap_or_default();
    assert!(
        why.contains("SSH"),
        "a node without SSH cannot be chosen: {why:?}"
    );
    assert_eq!(start.taken_hostnames, vec!["taken-1".to_owned()]);
    assert!(
        validate_hostname(&start.hostname).is_ok(),
        "{}",
        start.hostname
    );
    assert_ne!(start.hostname, "taken-1");
    assert!(validate_root_password(&start.root_password).is_ok());
    assert_ne!(
        start.root_password,
        service.wizard(&s.actor, None).await?.root_password,
        "a new password each time"
    );
    assert!(start.template.is_none());

    // With SSH set up, the node can be chosen; a template can be preselected.
    let _sshd = node_ssh(&s).await?;
    let slug = template(&s, false).await?;
    let start = service.wizard(&s.actor, Some(&slug)).await?;
    assert_eq!(start.nodes[0].unavailable, None);
    assert_eq!(
        start.template.as_ref().map(|t| t.slug.as_str()),
        Some("provisioned")
    );
    assert!(start.templates.iter().any(|t| t.slug == "provisioned"));
    let missing = service.wizard(&s.actor, Some("no-such")).await;
    assert!(matches!(missing, Err(AppError::NotFound(_))), "{missing:?}");

    // Another user sees none of it.
    let other = actor(&s.app, "someone-else").await?;
    let theirs = service.wizard(&other, None).await?;
    assert!(theirs.nodes.is_empty());
    assert!(theirs.taken_hostnames.is_empty());
    s.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_offers_storages_os_templates_bridges_and_the_next_vmid() -> R {
    let s = setup_paused(RuntimeKind::Scratch).await?;
    let service = s.service();
    let choices = service.node_choices(&s.actor, s.node_id).await?;
    assert!(
        choices.storages.iter().any(|st| st.id == "local-lvm"),
        "{choices:?}"
    );
    assert!(
        !choices.storages.iter().any(|st| st.id == "local"),
        "only rootdir storages: {choices:?}"
    );
    assert!(
        choices
            .ostemplates
            .iter()
            .any(|t| t.starts_with("local:vztmpl/debian-12")),
        "{choices:?}"
    );
    assert_eq!(choices.bridges, vec!["vmbr0".to_owned()]);
    assert!(choices.next_vmid.is_some_and(|v| v >= 100));

    let other = actor(&s.app, "someone-else").await?;
    let refused = service.node_choices(&other, s.node_id).await;
    assert!(matches!(refused, Err(AppError::NotFound(_))), "{refused:?}");
    s.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_that_does_not_answer_is_unavailable_not_a_crash() -> R {
    let s = setup_paused(RuntimeKind::Scratch).await?;
    let service = s.service();
    let crate::containers::Setup {
        app,
        lab,
        actor,
        node_id,
        ..
    } = s;
    let dir = lab.stop().await?;
    let s = Stopped { actor, node_id };
    match service.node_choices(&s.actor, s.node_id).await {
        Err(AppError::Unavailable(message)) => {
            assert!(message.contains("does not answer"), "{message}")
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    let start = service.wizard(&s.actor, None).await?;
    let why = start.nodes[0].unavailable.as_deref().unwrap_or_default();
    assert!(why.starts_with("offline"), "{why}");
    app.cleanup().await?;
    let _ = std::fs::remove_dir_all(dir);
    Ok(())
}

/// What is left of a setup whose lab was stopped.
struct Stopped {
    actor: kiln_shared::auth::Actor,
    node_id: i64,
}

#[tokio::test(flavor = "multi_thread")]
async fn a_typed_vmid_is_checked_among_kilns_containers_and_on_the_node() -> R {
    let s = setup_paused(RuntimeKind::Scratch).await?;
    let service = s.service();
    // A guest Kiln does not know of, made on the node directly.
    let client = s.lab.client()?;
    let pve = client.nodes().await?.remove(0).node;
    let upid = client.lxc_create(&pve, &container(4242)).await?;
    kiln_server::proxmox::tasks::wait_task(&client, &upid, std::time::Duration::from_secs(30))
        .await?;
    let mut reserved = request(s.node_id, "reserved");
    reserved.vmid = Some(4300);
    service.create(&s.actor, reserved).await?;

    service.check_vmid(&s.actor, s.node_id, 4301).await?;
    let on_node = service
        .check_vmid(&s.actor, s.node_id, 4242)
        .await
        .err()
        .ok_or("taken on the node: accepted")?;
    assert!(
        field(&on_node, "vmid").is_some_and(|m| m.contains("in use on the node")),
        "{on_node:?}"
    );
    let by_kiln = service
        .check_vmid(&s.actor, s.node_id, 4300)
        .await
        .err()
        .ok_or("reserved by Kiln: accepted")?;
    assert!(
        field(&by_kiln, "vmid").is_some_and(|m| m.contains("Kiln already uses")),
        "{by_kiln:?}"
    );
    let invalid = service
        .check_vmid(&s.actor, s.node_id, 7)
        .await
        .err()
        .ok_or("out of range: accepted")?;
    assert!(field(&invalid, "vmid").is_some(), "{invalid:?}");
    s.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn the_list_and_detail_show_the_owners_containers_only() -> R {
    let s = setup_paused(RuntimeKind::Scratch).await?;
    let service = s.service();
    let mut req = request(s.node_id, "listed");
    req.tags = vec!["web".into()];
    let created = service.create(&s.actor, req).await?;

    let list = service.list(&s.actor).await?;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].id, created.id);
    assert_eq!(list[0].hostname, "listed");
    assert_eq!(list[0].node_name, "lab");
    assert_eq!(list[0].status, ContainerStatus::Creating);

    let detail = service.detail(&s.actor, created.id).await?;
    assert_eq!(detail.summary, list[0]);
    assert_eq!(detail.request.tags, vec!["web".to_owned()]);
    assert_eq!(
        detail.request.root_password, None,
        "no secret in the detail"
    );
    assert!(detail.services.is_empty());

    let other = actor(&s.app, "someone-else").await?;
    assert!(service.list(&other).await?.is_empty());
    let hidden = service.detail(&other, created.id).await;
    assert!(matches!(hidden, Err(AppError::NotFound(_))), "{hidden:?}");
    s.finish().await
}
