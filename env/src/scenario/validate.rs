//! Validation of a scenario as written: every value checked once, the first bad one reported with
//! its field path and the reason.

use super::ScenarioConfig;
use crate::error::{Checker, ScenarioError};

pub(super) fn validate(s: &ScenarioConfig, c: &Checker<'_>) -> Result<(), ScenarioError> {
    c.ensure(!s.stages.is_empty(), "stages", || "must list at least one stage".into())?;
    let last = s.stages.len() - 1;
    for (k, st) in s.stages.iter().enumerate() {
        let f = |name: &str| format!("stages[{k}].{name}");
        c.fraction(&f("exit_probability"), st.exit_probability)?;
        if k == last {
            c.ensure(st.exit_probability == 1.0, &f("exit_probability"), || {
                format!("the last stage must exit every request (1.0), got {}", st.exit_probability)
            })?;
        }
        st.vm_service_ms.validate(c, &f("vm_service_ms"))?;
        if let Some(d) = &st.faas_service_ms {
            d.validate(c, &f("faas_service_ms"))?;
        }
        c.positive(&f("faas_memory_mb"), st.faas_memory_mb)?;
        c.non_negative(&f("activation_bytes"), st.activation_bytes)?;
    }
    let vm = &s.vm;
    c.non_negative("vm.price_per_hour", vm.price_per_hour)?;
    c.ensure(vm.slots > 0, "vm.slots", || "must be at least 1".into())?;
    vm.boot_s.validate(c, "vm.boot_s")?;
    c.non_negative("vm.billing_minimum_s", vm.billing_minimum_s)?;
    c.ensure(vm.initial_per_stage <= vm.max_per_stage, "vm.initial_per_stage", || {
        format!("{} exceeds vm.max_per_stage ({})", vm.initial_per_stage, vm.max_per_stage)
    })?;
    let fa = &s.faas;
    c.non_negative("faas.price_per_gb_s", fa.price_per_gb_s)?;
    c.non_negative("faas.price_per_request", fa.price_per_request)?;
    c.positive("faas.billing_granularity_ms", fa.billing_granularity_ms)?;
    fa.cold_start_ms.validate(c, "faas.cold_start_ms")?;
    c.non_negative("faas.keep_alive_s", fa.keep_alive_s)?;
    c.ensure(fa.concurrency_limit > 0, "faas.concurrency_limit", || "must be at least 1".into())?;
    c.non_negative("faas.invocation_overhead_ms", fa.invocation_overhead_ms)?;
    c.positive("faas.slowdown", fa.slowdown)?;
    let net = &s.network;
    for (name, link) in [("vm_vm", &net.vm_vm), ("vm_faas", &net.vm_faas), ("faas_faas", &net.faas_faas)]
        .into_iter()
        .chain(net.storage.iter().map(|l| ("storage", l)))
    {
        c.non_negative(&format!("network.{name}.latency_ms"), link.latency_ms)?;
        c.positive(&format!("network.{name}.bandwidth_mbps"), link.bandwidth_mbps)?;
    }
    if let Some(limit) = net.faas_payload_limit_bytes {
        c.positive("network.faas_payload_limit_bytes", limit)?;
        c.ensure(net.storage.is_some(), "network.storage", || {
            "is required when faas_payload_limit_bytes is set (the detour for large payloads)".into()
        })?;
    }
    c.non_negative("network.storage_price_per_request", net.storage_price_per_request)?;
    c.non_negative("network.transfer_price_per_gb", net.transfer_price_per_gb)?;
    if let Some(rate) = s.nominal_mean_rate_rps {
        c.positive("nominal_mean_rate_rps", rate)?;
    }
    if let Some(w) = s.balancer.vm_queue_wait_ms {
        c.non_negative("balancer.vm_queue_wait_ms", w)?;
    }
    c.positive("slo.latency_ms", s.slo.latency_ms)?;
    c.fraction("slo.attainment_target", s.slo.attainment_target)?;
    c.positive("control_interval_s", s.control_interval_s)?;
    c.ensure(
        s.control_interval_s * 1e6 == (s.control_interval_s * 1e6).round(),
        "control_interval_s",
        || format!("must be a whole number of microseconds, got {}", s.control_interval_s),
    )?;
    c.positive("horizon_s", s.horizon_s)?;
    let steps = s.horizon_s / s.control_interval_s;
    c.ensure((steps - steps.round()).abs() < 1e-9 && steps.round() >= 1.0, "horizon_s", || {
        format!(
            "must be a positive multiple of control_interval_s ({}), got {}",
            s.control_interval_s, s.horizon_s
        )
    })?;
    if let Some(d) = &s.exit_drift {
        c.non_negative("exit_drift.amplitude", d.amplitude)?;
        c.positive("exit_drift.period_s", d.period_s)?;
    }
    if let Some(se) = &s.size_exit {
        c.non_negative("size_exit.elasticity", se.elasticity)?;
    }
    c.positive("reward.cost_scale", s.reward.cost_scale)?;
    c.non_negative("reward.violation_penalty", s.reward.violation_penalty)?;
    Ok(())
}
