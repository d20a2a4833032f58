//! The allocate phase's VMIDs against a lab node (scratch runtime): the node's set of used
//! VMIDs cached in Redis under the app's prefix for a short while, a VMID taken behind
//! Kiln's back skipped (by the cache, or by `/cluster/nextid?vmid=` when the cache does not
//! know it yet), and a VMID taken between the allocation and the creation replaced by a new
//! one instead of failing. (Deleting drops the cache: `container_delete`; 20 concurrent
//! creations on one node: `containers`.)

use kiln_server::containers::vmids::{TTL, VmidCache};
use kiln_server::lab::{Faults, RuntimeKind};
use kiln_server::proxmox::ProxmoxApi;
use kiln_server::proxmox::tasks::wait_task;
use kiln_shared::pve::LxcCreate;

use crate::containers::{Setup, request, setup};
use crate::lab_fixture::{R, TASK_TIMEOUT, container};

/// Creates a guest straight on the lab (behind Kiln's back) and waits for its task.
pub(crate) async fn foreign_guest(s: &Setup, params: &LxcCreate) -> R {
    let client = s.lab.client()?;
    let upid = client.lxc_create(s.lab.node(), params).await?;
    wait_task(&client, &upid, TASK_TIMEOUT).await?;
    Ok(())
}

/// The VMIDs of the lab's guests, sorted.
pub(crate) async fn lab_vmids(s: &Setup) -> R<Vec<u32>> {
    let mut vmids: Vec<u32> = s
        .lab
        .client()?
        .lxc_list(s.lab.node())
        .await?
        .iter()
        .map(|ct| ct.vmid)
        .collect();
    vmids.sort_unstable();
    Ok(vmids)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_vmid_used_on_the_node_but_unknown_to_kiln_is_skipped() -> R {
    let s = setup(RuntimeKind::Scratch).await?;
    let cache = VmidCache::new(&s.app.state);
    foreign_guest(&s, &container(100)).await?;
    let first = s
        .service()
        .create(&s.actor, request(s.node_id, "first"))
        .await?;
    let row = s.settled(first.id, 30).await?;
    assert_eq!(
        (row.status.as_str(), row.vmid),
        ("ready", Some(101)),
        "{:?}",
        row.error
    );
    let cached = cache
        .cached(s.node_id)
        .await?
        .ok_or("the cache is filled")?;
    assert_eq!(cached.into_iter().collect::<Vec<_>>(), [100, 101]);

    // A guest made after the cache was filled: the cache does not know it, Proxmox does.
    foreign_guest(&s, &container(102)).await?;
    let second = s
        .service()
        .create(&s.actor, request(s.node_id, "second"))
        .await?;
    let row = s.settled(second.id, 30).await?;
    assert_eq!(
        (row.status.as_str(), row.vmid),
        ("ready", Some(103)),
        "{:?}",
        row.error
    );
    let texts: Vec<String> = s
        .events(second.id)
        .await?
        .into_iter()
        .map(|e| e.text)
        .collect();
    assert!(
        texts.contains(&"VMID 102 is taken on the node; trying another".to_owned()),
        "{texts:?}"
    );
    let cached = cache.cached(s.node_id).await?.ok_or("still cached")?;
    assert_eq!(
        cached.into_iter().collect::<Vec<_>>(),
        [100, 101, 102, 103],
        "what Proxmox said taken is cached too"
    );
    assert_eq!(lab_vmids(&s).await?, [100, 101, 102, 103]);
    s.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn the_vmid_cache_is_filled_under_the_apps_prefix_for_a_short_while() -> R {
    use deadpool_redis::redis::AsyncCommands;
    let s = setup(RuntimeKind::Scratch).await?;
    let cache = VmidCache::new(&s.app.state);
    assert_eq!(cache.cached(s.node_id).await?, None, "empty at first");
    let created = s
        .service()
        .create(&s.actor, request(s.node_id, "cached"))
        .await?;
    assert_eq!(s.settled(created.id, 30).await?.status, "ready");
    let cached = cache.cached(s.node_id).await?.ok_or("filled")?;
    assert_eq!(
        cached.into_iter().collect::<Vec<_>>(),
        [100],
        "kept true: the VMID just reserved is in"
    );
    assert!(
        cache
            .key(s.node_id)
            .starts_with(&s.app.state.config.redis_prefix),
        "under the app's prefix"
    );
    let mut redis = s.app.state.redis.get().await?;
    let ttl: i64 = redis.ttl(cache.key(s.node_id)).await?;
    assert!(
        ttl > 0 && ttl <= i64::try_from(TTL.as_secs())?,
        "short-lived: {ttl} s"
    );
    drop(redis);
    s.finish().await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_vmid_taken_meanwhile_gets_a_new_id_when_the_creation_goes_on() -> R {
    let s = setup(RuntimeKind::Scratch).await?;
    let mut faults = Faults::default();
    faults
        .task_failures
        .insert("vzcreate".into(), "unable to create: storage full".into());
    s.lab.handle.set_faults(faults);
    let created = s
        .service()
        .create(&s.actor, request(s.node_id, "patient"))
        .await?;
    let row = s.settled(created.id, 30).await?;
    assert_eq!(
        (row.status.as_str(), row.vmid),
        ("failed", Some(100)),
        "{:?}",
        row.error
    );
    s.lab.handle.set_faults(Faults::default());
    // Someone takes VMID 100 on the node before the retry.
    foreign_guest(&s, &container(100)).await?;
    s.service().retry(&s.actor, created.id).await?;
    let row = s.settled(created.id, 30).await?;
    assert_eq!(
        (row.status.as_str(), row.vmid),
        ("ready", Some(101)),
        "{:?}",
        row.error
    );
    let texts: Vec<String> = s
        .events(created.id)
        .await?
        .into_iter()
        .map(|e| e.text)
        .collect();
    assert!(
        texts.contains(&"VMID 100 was taken on the node meanwhile; choosing another".to_owned()),
        "{texts:?}"
    );
    assert_eq!(lab_vmids(&s).await?, [100, 101]);
    let ours = s.lab.client()?.lxc_config(s.lab.node(), 101).await?;
    assert!(kiln_server::containers::create::has_marker(
        ours.description.as_deref(),
        created.job_id
    ));
    s.finish().await
}
