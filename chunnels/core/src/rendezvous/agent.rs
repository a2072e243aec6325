//! The agent side of a rendezvous group: learning the peers, the periodic round (heartbeat,
//! vote, switch) and the proposer's two-phase commit, all through the [`Store`].

use std::rc::Rc;

use netrt::{DatagramSocket, Runtime};

use super::{
    compatible, dec, enc, store_err, switch, AcceptPolicy, GroupAddr, GroupState, Inner, Installed,
    Member, Members, RendezvousConfig, Store, Upgrade,
};
use crate::conn::{ChunnelConnection, Error};
use crate::negotiate::base::DataConn;
use crate::stack::{Chunnel, Describe};

pub(super) async fn refresh_peers<K: Store, S, St>(
    store: &K,
    mkey: &str,
    inner: &Inner<S, St>,
    cfg: RendezvousConfig,
) -> Result<(), Error>
where
    S: DatagramSocket,
    S::Addr: GroupAddr,
    St: Chunnel<DataConn<S>>,
{
    let snap = store.read(&[mkey.to_string()]).await.map_err(store_err)?;
    let now = store.clock_ms().await.map_err(store_err)?;
    let members: Members = dec(&snap.values[0])?;
    let ttl = cfg.ttl.as_millis();
    let cur = inner.current.borrow().generation;
    *inner.peers.borrow_mut() = members
        .iter()
        .filter(|(id, m)| {
            **id != inner.me && now.saturating_sub(m.heartbeat_ms) <= ttl && m.since <= cur
        })
        .filter_map(|(id, _)| S::Addr::from_text(id))
        .collect();
    Ok(())
}

/// One agent round: heartbeat, vote on an upgrade, switch to a committed generation.
pub(super) async fn agent_round<R, S, St, K>(
    rt: &R,
    store: &K,
    group: &str,
    inner: &Rc<Inner<S, St>>,
    policy: &AcceptPolicy,
    cfg: RendezvousConfig,
) -> Result<(), Error>
where
    R: Runtime,
    S: DatagramSocket + 'static,
    S::Addr: GroupAddr,
    St: Describe + Chunnel<DataConn<S>> + Clone + 'static,
    <St::Connection as ChunnelConnection>::Data: 'static,
    K: Store,
{
    let (skey, mkey) = (format!("{group}/state"), format!("{group}/members"));
    // Heartbeat.
    for _ in 0..3 {
        let snap = store
            .read(std::slice::from_ref(&mkey))
            .await
            .map_err(store_err)?;
        let now = store.clock_ms().await.map_err(store_err)?;
        let mut members: Members = dec(&snap.values[0])?;
        let since = members.get(&inner.me).map_or(inner.since, |m| m.since);
        members.insert(
            inner.me.clone(),
            Member {
                heartbeat_ms: now,
                since,
            },
        );
        if store
            .commit(&snap, vec![(mkey.clone(), Some(enc(&members)))])
            .await
            .map_err(store_err)?
        {
            break;
        }
    }
    refresh_peers(store, &mkey, inner, cfg).await?;
    // Vote, and switch.
    for _ in 0..3 {
        let snap = store
            .read(std::slice::from_ref(&skey))
            .await
            .map_err(store_err)?;
        let mut st: GroupState = dec(&snap.values[0])?;
        if let Some(inst) = &st.installed {
            if inst.generation > inner.current.borrow().generation {
                if let Some((ai, ags)) = compatible(&inner.alts, &inst.layers) {
                    switch(rt, inner, inst.generation, ai, &ags, cfg.drain).await?;
                    inner.stats.switches.set(inner.stats.switches.get() + 1);
                }
            }
        }
        let Some(up) = st.upgrade.as_mut() else { break };
        if up.votes.contains_key(&inner.me) {
            break;
        }
        let yes = compatible(&inner.alts, &up.layers).is_some() && (policy.accept)(&up.layers);
        up.votes.insert(inner.me.clone(), yes);
        if store
            .commit(&snap, vec![(skey.clone(), Some(enc(&st)))])
            .await
            .map_err(store_err)?
        {
            let (y, n) = inner.stats.votes.get();
            inner
                .stats
                .votes
                .set(if yes { (y + 1, n) } else { (y, n + 1) });
            break;
        }
    }
    Ok(())
}

/// Waits until no upgrade is in progress.
pub(super) async fn wait_upgrade<R: Runtime, K: Store>(
    rt: &R,
    store: &K,
    skey: &str,
    cfg: RendezvousConfig,
) -> Result<(), Error> {
    loop {
        rt.sleep(cfg.heartbeat).await;
        let snap = store.read(&[skey.to_string()]).await.map_err(store_err)?;
        let st: GroupState = dec(&snap.values[0])?;
        if st.upgrade.is_none() {
            return Ok(());
        }
    }
}

/// The proposer's side of the two-phase commit: waits for every live member's vote, then
/// commits or aborts. Liveness is read from the members key; the decision commits on the state
/// key alone, so heartbeats do not conflict with it.
pub(super) async fn run_upgrade<R: Runtime, K: Store>(
    rt: &R,
    store: &K,
    keys: &[String; 2],
    me: &str,
    up: &Upgrade,
    cfg: RendezvousConfig,
) -> Result<(), Error> {
    let ttl = cfg.ttl.as_millis();
    let (skey, mkey) = (&keys[0], &keys[1]);
    loop {
        rt.sleep(cfg.heartbeat).await;
        let msnap = store
            .read(std::slice::from_ref(mkey))
            .await
            .map_err(store_err)?;
        let now = store.clock_ms().await.map_err(store_err)?;
        let members: Members = dec(&msnap.values[0])?;
        let snap = store
            .read(std::slice::from_ref(skey))
            .await
            .map_err(store_err)?;
        let mut st: GroupState = dec(&snap.values[0])?;
        let Some(cur) = st.upgrade.clone() else {
            return Err(Error::layer("rendezvous", "the upgrade disappeared"));
        };
        if cur.proposer != me || cur.generation != up.generation {
            return Err(Error::layer(
                "rendezvous",
                "another upgrade replaced this one",
            ));
        }
        let refused = cur.votes.iter().find(|(_, v)| !**v).map(|(p, _)| p.clone());
        let timed_out = now.saturating_sub(cur.started_ms) > cfg.upgrade_timeout.as_millis();
        if refused.is_some() || timed_out {
            st.upgrade = None;
            if !store
                .commit(&snap, vec![(skey.clone(), Some(enc(&st)))])
                .await
                .map_err(store_err)?
            {
                continue;
            }
            // Leave the group: the proposer's join fails.
            loop {
                let ms = store
                    .read(std::slice::from_ref(mkey))
                    .await
                    .map_err(store_err)?;
                let mut m: Members = dec(&ms.values[0])?;
                m.remove(me);
                if store
                    .commit(&ms, vec![(mkey.clone(), Some(enc(&m)))])
                    .await
                    .map_err(store_err)?
                {
                    break;
                }
            }
            return Err(Error::layer(
                "rendezvous",
                match refused {
                    Some(p) => format!("upgrade refused by peer {p}"),
                    None => "upgrade timed out waiting for votes".to_string(),
                },
            ));
        }
        let all_yes = members
            .iter()
            .filter(|(_, m)| now.saturating_sub(m.heartbeat_ms) <= ttl)
            .all(|(p, _)| cur.votes.get(p) == Some(&true));
        if all_yes {
            st.installed = Some(Installed {
                generation: cur.generation,
                layers: cur.layers.clone(),
            });
            st.upgrade = None;
            if store
                .commit(&snap, vec![(skey.clone(), Some(enc(&st)))])
                .await
                .map_err(store_err)?
            {
                return Ok(());
            }
        }
    }
}
