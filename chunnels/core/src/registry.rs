//! Discovery: the [`Registry`] of deployed implementations, with their scope, the endpoints
//! they need, priority, the offload capacity they reserve and init/teardown hooks.
//!
//! A stack's code says which implementations *exist*; the registry says which are *deployed
//! here*. Rules negotiation applies to each offer of an end's alternatives:
//! - a registered implementation is available; its registered priority replaces the offer's;
//! - an unregistered implementation is available only if its scope is
//!   [`Scope::Application`] (a host fallback linked into the application); accelerated
//!   implementations (host or network scope) must be registered;
//! - an implementation registered with [`Endpoints::Both`] is usable only where the other end
//!   has the matching layer too.
//!
//! Choosing an alternative reserves the capacity of every registered implementation in it on
//! its devices (the `netmodels` SmartNIC and programmable-switch capacity models), all or
//! nothing, and runs the init hooks; the returned [`Lease`] releases the capacity and runs the
//! teardown hooks when dropped. When a reservation fails, negotiation moves on to the next
//! alternative (typically the host fallback) and reports why.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::rc::Rc;

use netmodels::offload::{Demand, OffloadDevice, Reservation};

use crate::caps::{Agreement, Offer, Scope};

/// Which ends an implementation needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoints {
    /// Works with only this end running it.
    One,
    /// Needs the other end to run the matching layer.
    Both,
}

/// An offload device shared by the registries that place on it.
pub type Device = Rc<RefCell<dyn OffloadDevice>>;

/// A hook run when an implementation is chosen (init) or its connection ends (teardown).
pub type Hook = Rc<dyn Fn(&Offer)>;

/// A registered implementation.
#[derive(Clone)]
pub struct Entry {
    /// Where it runs.
    pub scope: Scope,
    /// Which ends it needs.
    pub endpoints: Endpoints,
    /// Its priority (replaces the offer's).
    pub priority: i32,
    /// Capacity it reserves, per device.
    pub resources: Vec<(Device, Demand)>,
    /// Run when chosen, after the reservation.
    pub init: Option<Hook>,
    /// Run when the connection's lease is dropped.
    pub teardown: Option<Hook>,
}

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entry")
            .field("scope", &self.scope)
            .field("endpoints", &self.endpoints)
            .field("priority", &self.priority)
            .field(
                "resources",
                &self
                    .resources
                    .iter()
                    .map(|(d, dm)| (d.borrow().name().to_string(), *dm))
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl Entry {
    /// An entry with no resources or hooks.
    pub fn new(scope: Scope, endpoints: Endpoints, priority: i32) -> Self {
        Entry {
            scope,
            endpoints,
            priority,
            resources: Vec::new(),
            init: None,
            teardown: None,
        }
    }

    /// Adds a capacity demand on `device`.
    pub fn reserve(mut self, device: Device, demand: Demand) -> Self {
        self.resources.push((device, demand));
        self
    }

    /// Sets the init hook.
    pub fn on_init(mut self, f: impl Fn(&Offer) + 'static) -> Self {
        self.init = Some(Rc::new(f));
        self
    }

    /// Sets the teardown hook.
    pub fn on_teardown(mut self, f: impl Fn(&Offer) + 'static) -> Self {
        self.teardown = Some(Rc::new(f));
        self
    }
}

/// The implementations deployed where an endpoint runs. Cheap to clone (shared).
#[derive(Clone, Debug, Default)]
pub struct Registry {
    entries: Rc<RefCell<BTreeMap<(String, String), Entry>>>,
}

/// Capacity and teardown hooks held by a connection; released when dropped.
#[derive(Default)]
pub struct Lease {
    held: Vec<(Device, Reservation)>,
    teardown: Vec<(Hook, Offer)>,
}

impl fmt::Debug for Lease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lease")
            .field("reservations", &self.held.len())
            .field("teardown_hooks", &self.teardown.len())
            .finish()
    }
}

impl Lease {
    /// Number of device reservations held.
    pub fn reservations(&self) -> usize {
        self.held.len()
    }

    fn release(&mut self) {
        for (d, r) in self.held.drain(..).rev() {
            // A reservation is released once, on the device that granted it: this cannot fail.
            let _ = d.borrow_mut().release(r);
        }
        for (h, o) in self.teardown.drain(..) {
            h(&o);
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.release();
    }
}

impl Registry {
    /// An empty registry: only application-scope fallbacks are available.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers (or replaces) `implementation` of `chunnel`.
    pub fn register(&self, chunnel: &str, implementation: &str, entry: Entry) {
        self.entries
            .borrow_mut()
            .insert((chunnel.to_string(), implementation.to_string()), entry);
    }

    /// Removes a registration.
    pub fn unregister(&self, chunnel: &str, implementation: &str) {
        self.entries
            .borrow_mut()
            .remove(&(chunnel.to_string(), implementation.to_string()));
    }

    fn entry(&self, o: &Offer) -> Option<Entry> {
        self.entries
            .borrow()
            .get(&(o.chunnel.clone(), o.implementation.clone()))
            .cloned()
    }

    /// Whether `o` may be used here; `Err` says why not.
    pub fn available(&self, o: &Offer) -> Result<(), String> {
        match self.entry(o) {
            Some(_) => Ok(()),
            None if o.scope == Scope::Application => Ok(()),
            None => Err(format!(
                "{}/{}: not registered here (scope {:?} implementations must be registered)",
                o.chunnel, o.implementation, o.scope
            )),
        }
    }

    /// `o` with its registered priority.
    pub fn effective(&self, o: &Offer) -> Offer {
        let mut o = o.clone();
        if let Some(e) = self.entry(&o) {
            o.priority = e.priority;
        }
        o
    }

    /// Checks the endpoint rule for an agreed layer.
    pub fn endpoints_ok(&self, a: &Agreement) -> Result<(), String> {
        match self.entry(&a.local) {
            Some(e) if e.endpoints == Endpoints::Both && a.peer.is_none() => Err(format!(
                "{}/{}: needs both ends, the other end has no {} layer",
                a.local.chunnel, a.local.implementation, a.local.chunnel
            )),
            _ => Ok(()),
        }
    }

    /// Reserves the capacity of every registered implementation of `layers`, all or nothing,
    /// then runs their init hooks.
    pub fn reserve(&self, layers: &[Offer]) -> Result<Lease, String> {
        let mut lease = Lease::default();
        for o in layers {
            let Some(e) = self.entry(o) else { continue };
            for (dev, demand) in &e.resources {
                let r = dev.borrow_mut().reserve(*demand);
                match r {
                    Ok(r) => lease.held.push((dev.clone(), r)),
                    Err(err) => {
                        // Dropping the partial lease gives back what was reserved.
                        return Err(format!("{}/{}: {err}", o.chunnel, o.implementation));
                    }
                }
            }
        }
        for o in layers {
            let Some(e) = self.entry(o) else { continue };
            if let Some(h) = &e.init {
                h(o);
            }
            if let Some(h) = e.teardown {
                lease.teardown.push((h, o.clone()));
            }
        }
        Ok(lease)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::caps::Compat;
    use netmodels::offload::{ProgrammableSwitch, Resource};

    #[test]
    fn reservations_are_all_or_nothing_and_released_on_drop() {
        let sw: Device = Rc::new(RefCell::new(ProgrammableSwitch::new("tor", 10, 4, None)));
        let reg = Registry::new();
        reg.register(
            "shard",
            "switch",
            Entry::new(Scope::LocalNetwork, Endpoints::One, 10)
                .reserve(sw.clone(), Demand::new().table_entries(6)),
        );
        let o = Offer::new("shard", "switch", Compat::Provides).scope(Scope::LocalNetwork);
        assert!(reg.available(&o).is_ok());
        assert_eq!(reg.effective(&o).priority, 10);
        let l1 = reg.reserve(std::slice::from_ref(&o)).unwrap();
        assert_eq!(sw.borrow().available(Resource::TableEntries), Some(4));
        let err = reg.reserve(std::slice::from_ref(&o)).unwrap_err();
        assert!(err.contains("table entries exhausted"), "{err}");
        drop(l1);
        assert_eq!(sw.borrow().available(Resource::TableEntries), Some(10));
        let unreg = Offer::new("shard", "nic", Compat::Provides).scope(Scope::Host);
        assert!(reg
            .available(&unreg)
            .unwrap_err()
            .contains("not registered"));
    }
}
