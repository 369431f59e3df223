//! Transmission between consecutive stages: `latency + bytes / bandwidth` on the path between the
//! places the two stages ran, with a detour through object storage for FaaS payloads over the limit.

use crate::engine::SimDuration;
use crate::scenario::{LinkConfig, NetworkConfig};

/// Where a stage ran for one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    /// The stage's VM pool.
    Vm,
    /// The stage's function.
    Faas,
}

#[derive(Clone, Copy, Debug)]
struct Link {
    latency_us: f64,
    us_per_byte: f64,
}

impl From<&LinkConfig> for Link {
    fn from(c: &LinkConfig) -> Self {
        // Mbit/s -> bytes per microsecond = mbps / 8.
        Self { latency_us: c.latency_ms * 1e3, us_per_byte: 8.0 / c.bandwidth_mbps }
    }
}

impl Link {
    fn delay(self, bytes: f64) -> SimDuration {
        SimDuration((self.latency_us + bytes * self.us_per_byte).round() as u64)
    }
}

/// One transfer's delay and dollars.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Transfer {
    /// Time on the wire (or through storage).
    pub delay: SimDuration,
    /// Dollars (cross-service transfer, storage requests).
    pub cost: f64,
}

/// The network between stages.
#[derive(Clone, Debug)]
pub struct Network {
    vm_vm: Link,
    vm_faas: Link,
    faas_faas: Link,
    payload_limit: Option<f64>,
    storage: Option<Link>,
    storage_price: f64,
    price_per_byte: f64,
}

impl Network {
    /// From the scenario's network section.
    pub fn new(c: &NetworkConfig) -> Self {
        Self {
            vm_vm: (&c.vm_vm).into(),
            vm_faas: (&c.vm_faas).into(),
            faas_faas: (&c.faas_faas).into(),
            payload_limit: c.faas_payload_limit_bytes,
            storage: c.storage.as_ref().map(Link::from),
            storage_price: c.storage_price_per_request,
            price_per_byte: c.transfer_price_per_gb / 1e9,
        }
    }

    /// Moving `bytes` from a stage that ran at `from` to the next stage at `to`.
    pub fn transfer(&self, from: Place, to: Place, bytes: f64) -> Transfer {
        let touches_faas = from == Place::Faas || to == Place::Faas;
        if let (true, Some(limit), Some(storage)) = (touches_faas, self.payload_limit, self.storage)
            && bytes > limit
        {
            return Transfer { delay: storage.delay(bytes), cost: self.storage_price };
        }
        let link = match (from, to) {
            (Place::Vm, Place::Vm) => self.vm_vm,
            (Place::Faas, Place::Faas) => self.faas_faas,
            _ => self.vm_faas,
        };
        let cost = if from != to { bytes * self.price_per_byte } else { 0.0 };
        Transfer { delay: link.delay(bytes), cost }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(latency_ms: f64, bandwidth_mbps: f64) -> LinkConfig {
        LinkConfig { latency_ms, bandwidth_mbps }
    }

    #[test]
    fn delay_is_latency_plus_bytes_over_bandwidth_with_storage_detour() {
        let net = Network::new(&NetworkConfig {
            vm_vm: link(1.0, 8000.0),
            vm_faas: link(10.0, 800.0),
            faas_faas: link(20.0, 800.0),
            faas_payload_limit_bytes: Some(6e6),
            storage: Some(link(50.0, 800.0)),
            storage_price_per_request: 0.001,
            transfer_price_per_gb: 0.01,
        });
        // 1 MB over 8000 Mbit/s = 1 ms, plus 1 ms latency.
        assert_eq!(net.transfer(Place::Vm, Place::Vm, 1e6).delay, SimDuration(2_000));
        let t = net.transfer(Place::Vm, Place::Faas, 1e6);
        assert_eq!(t.delay, SimDuration(20_000));
        assert!((t.cost - 1e-5).abs() < 1e-15);
        let big = net.transfer(Place::Faas, Place::Faas, 8e6);
        assert_eq!(big, Transfer { delay: SimDuration(130_000), cost: 0.001 });
    }
}
