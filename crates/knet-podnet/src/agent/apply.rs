//! Applying a plan: one netlink call per step, in order.

use super::plan::{Plan, Step};
use super::{Agent, AgentError};

impl Agent {
    /// Applies every step in order; stops at the first failure.
    pub async fn apply(&self, plan: &Plan) -> Result<(), AgentError> {
        for step in &plan.steps {
            self.apply_step(step).await?;
        }
        Ok(())
    }

    async fn apply_step(&self, step: &Step) -> Result<(), AgentError> {
        let nl = &self.nl;
        match step {
            Step::CreateVtep(spec) => match nl.create_vxlan(spec).await {
                Err(e) if e.is_exists() => Ok(()),
                other => other,
            }?,
            Step::DeleteVtep(i) => match nl.del_link(*i).await {
                Err(e) if e.is_not_found() => Ok(()),
                other => other,
            }?,
            Step::AddAddress(i, a) => nl.add_address(*i, *a).await?,
            Step::SetUp(i) => nl.set_up(*i).await?,
            Step::ReplaceNeighbour(i, ip, mac) => nl.replace_neighbour(*i, *ip, *mac).await?,
            Step::ReplaceFdb(i, mac, dst) => nl.replace_fdb(*i, *mac, *dst).await?,
            Step::ReplaceRoute(r) => nl.replace_route(r).await?,
            Step::DeleteRoute(r) => nl.del_route(r).await?,
            Step::DeleteNeighbour(i, ip) => nl.del_neighbour(*i, *ip).await?,
            Step::DeleteFdb(i, mac, dst) => nl.del_fdb(*i, *mac, *dst).await?,
        }
        Ok(())
    }
}
