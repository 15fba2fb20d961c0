//! Deciding where one statement runs: classifying it (cached per query type), the
//! routing decision over this connection's role and pins, and the node for its route.

use diesel::mysql::{Mysql, MysqlQueryBuilder};
use diesel::query_builder::{QueryBuilder, QueryFragment, QueryId};
use diesel::result::QueryResult;

use super::{session_sync, Engine, Link};
use crate::classify::{self, Classification, Flags, Kind};
use crate::consistency::Consistency;
use crate::error::Error;
use crate::role::Role;
use crate::routing::{self, pins, Effect, Pin, Placement, Refusal, Target};

/// What was decided for one statement.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Plan {
    pub(crate) node: usize,
    pub(crate) role: Role,
    /// The consistency in effect, and whether the scope carries a token (read with the
    /// role, once per statement).
    pub(crate) consistency: Consistency,
    pub(crate) scope_token: bool,
    /// A read outside any transaction or pin: may be retried elsewhere on a
    /// connection-level failure.
    pub(crate) retryable: bool,
    /// Chosen by the balancer for a read: consistency rules (causal wait, sticky window)
    /// apply.
    pub(crate) replica_read: bool,
    /// With a single database: the router would have sent this read to a replica.
    pub(crate) wanted_replica: bool,
    pub(crate) session: bool,
    /// Sent as text (`batch_execute`) rather than as a prepared statement: internal
    /// statements that must leave the session as the user's would use the same protocol
    /// (MariaDB's `ROW_COUNT()` after a `SET` differs between the two).
    pub(crate) text: bool,
}

/// A plan decided without I/O ([`Engine::plan_now`]), or the plan still missing its node.
pub(crate) enum Decided {
    Plan(Plan),
    /// The route is the master, and the master is ejected: [`Engine::master_node`] finds
    /// the node that takes writes now (it may ask the nodes), or says there is none.
    NeedsMaster(Plan),
}

/// Renders a query's SQL the way `MysqlConnection` will send it.
pub(crate) fn render<T: QueryFragment<Mysql> + ?Sized>(source: &T) -> QueryResult<String> {
    let mut qb = MysqlQueryBuilder::new();
    source.to_sql(&mut qb, &Mysql)?;
    Ok(qb.finish())
}

impl<L: Link> Engine<L> {
    /// Classifies a Diesel query, from a per-type cache when its SQL is static.
    pub(crate) fn classify_query<T: QueryFragment<Mysql> + QueryId>(
        &mut self,
        source: &T,
    ) -> QueryResult<(Classification, Option<String>)> {
        if let Some(id) = T::query_id() {
            if let Some(class) = self.class_cache.get(&id) {
                return Ok((*class, None));
            }
            let sql = render(source)?;
            let class = classify::classify(&sql);
            self.class_cache.insert(id, class);
            return Ok((class, Some(sql)));
        }
        let sql = render(source)?;
        Ok((classify::classify(&sql), Some(sql)))
    }

    /// Classifies a query already rendered to `sql`, from the per-type cache when its
    /// SQL is static.
    #[cfg_attr(not(feature = "async"), allow(dead_code))]
    pub(crate) fn classify_rendered<T: QueryId>(&mut self, sql: &str) -> Classification {
        match T::query_id() {
            Some(id) => *self
                .class_cache
                .entry(id)
                .or_insert_with(|| classify::classify(sql)),
            None => classify::classify(sql),
        }
    }

    /// The node a transaction begun now should run on: where a `BEGIN` would.
    pub(crate) async fn transaction_node(&mut self) -> Result<usize, Error> {
        const BEGIN: Classification = Classification {
            kind: Kind::Begin,
            flags: Flags::NONE,
        };
        let plan = self.plan(BEGIN, None).await?;
        self.pins.next_transaction = None;
        Ok(plan.node)
    }

    /// Decides where a statement runs: the pure decision ([`routing::decide`]) over the
    /// role, the statement and this connection's pins, then the node for its route.
    pub(crate) async fn plan(
        &mut self,
        class: Classification,
        sql: Option<&str>,
    ) -> Result<Plan, Error> {
        if self.waits_for_first_round() {
            Box::pin(L::first_round(self.cluster.topology())).await;
        }
        match self.plan_now(class, sql)? {
            Decided::Plan(plan) => Ok(plan),
            Decided::NeedsMaster(mut plan) => {
                plan.node = self.master_node().await?;
                Ok(plan)
            }
        }
    }

    /// Whether a plan waits for the monitor's first round first (a connection whose
    /// session is inconsistent refuses at once instead).
    #[inline]
    pub(crate) fn waits_for_first_round(&self) -> bool {
        self.inconsistent.is_none() && self.cluster.topology().first_round.pending().is_some()
    }

    /// [`plan`](Self::plan) up to what needs I/O: the master's node when the master is
    /// ejected (finding it may ask the nodes). It doesn't wait for the monitor's first
    /// round; `plan` does, before it.
    pub(crate) fn plan_now(
        &mut self,
        class: Classification,
        sql: Option<&str>,
    ) -> Result<Decided, Error> {
        if let Some(reason) = &self.inconsistent {
            return Err(Error::InconsistentSession {
                reason: reason.clone(),
            });
        }
        let ambient = self.ambient_now();
        let role = ambient.role;
        let has_replicas = self.cluster.topology().has_replicas();
        // The common statement, a plain read with no transaction and no temporary table,
        // skips building the decision's input (see `routing::plain_read`).
        let quick = routing::plain_read(role, class, has_replicas).filter(|_| {
            self.tx.pinned.is_none() && !self.pins.raw.is_open() && self.pins.temp_tables.is_empty()
        });
        let (placement, session) = match quick {
            Some(placement) => (placement, false),
            None => self.place(role, class, sql)?,
        };
        let shared = self.cluster.topology();
        let mut needs_master = false;
        let node = match placement.target {
            Target::Master => {
                let master = shared.master();
                needs_master = !shared.nodes[master].is_up();
                master
            }
            Target::Balanced => self.pick_read_node_under(&[], ambient.consistency).0,
            Target::Node(node) => node,
        };
        let plan = Plan {
            node,
            role,
            consistency: ambient.consistency,
            scope_token: ambient.scope_token,
            retryable: placement.retryable,
            replica_read: placement.replica_read,
            wanted_replica: placement.wanted_replica,
            session,
            text: false,
        };
        Ok(if needs_master {
            Decided::NeedsMaster(plan)
        } else {
            Decided::Plan(plan)
        })
    }

    /// The full routing decision for a statement in `role`: its placement, and whether
    /// it sets session state.
    fn place(
        &self,
        role: Role,
        class: Classification,
        sql: Option<&str>,
    ) -> Result<(Placement, bool), Error> {
        let persistent = class.kind == Kind::SetTransaction
            && sql.is_some_and(crate::session::is_persistent_transaction_setting);
        let effect = routing::effect(class, persistent);
        let mut pins = self
            .pins
            .pins(self.tx.pinned, self.last_node, sql)
            .map_err(|pins::TempConflict(a, b)| {
                self.refusal(
                    class,
                    Refusal::Conflict {
                        first: (Pin::TempTable, a),
                        second: (Pin::TempTable, b),
                    },
                )
            })?;
        // `SET TRANSACTION` shapes the next transaction on the node connection it ran
        // on; once that connection is gone, so is the setting.
        pins.next_transaction = pins.next_transaction.filter(|&i| self.nodes[i].is_some());
        let shared = &self.cluster.topology();
        let input = routing::Input {
            role,
            class,
            effect,
            writes: shared.config.writes_in_replica_role,
            master: shared.master(),
            pins,
        };
        let route = routing::decide(&input).map_err(|r| self.refusal(class, r))?;
        let reads_data = effect == Effect::Session
            && sql.is_some_and(|sql| !classify::table_refs(sql).is_empty());
        let placement = routing::place(
            route,
            routing::Context {
                effect,
                replicas: shared.has_replicas(),
                // Only a session statement stays where the previous one ran.
                previous: self.last_node.filter(|&i| {
                    effect == Effect::Session && self.nodes[i].is_some() && !self.unfit.contains(i)
                }),
                reads_data,
            },
        );
        Ok((placement, session_sync::sets_session_state(class, effect)))
    }

    /// The error for a statement the router refused.
    #[cold]
    pub(crate) fn refusal(&self, class: Classification, refusal: Refusal) -> Error {
        let label = |i: usize| self.cluster.topology().nodes[i].label.clone();
        let statement = class.kind.name();
        match refusal {
            Refusal::ReplicaRole => Error::WriteInReplicaRole { statement },
            Refusal::PinnedToReplica { pin, node } => Error::PinnedToReplica {
                statement,
                pin: pin.describe(),
                node: label(node),
            },
            Refusal::Conflict { first, second } => Error::PinConflict {
                statement,
                pins: format!(
                    "{} is on {}, {} on {}",
                    first.0.describe(),
                    label(first.1),
                    second.0.describe(),
                    label(second.1)
                ),
            },
        }
    }
}

impl<L: Link> Engine<L> {
    /// Temporary tables, session statements and transaction control need the SQL even
    /// when the classification was cached.
    pub(crate) fn sql_if_needed<T: QueryFragment<Mysql>>(
        &self,
        source: &T,
        sql: Option<String>,
        class: Classification,
    ) -> QueryResult<Option<String>> {
        if sql.is_none() && self.needs_sql(class) {
            Ok(Some(render(source)?))
        } else {
            Ok(sql)
        }
    }

    /// Whether routing and book-keeping read a statement's SQL, not only its
    /// classification: while temporary tables exist (a statement may name one), and for
    /// session statements, user variables, named locks and transaction control.
    /// Otherwise they don't look at it, and scanning it would be wasted time.
    pub(crate) fn needs_sql(&self, class: Classification) -> bool {
        !self.pins.temp_tables.is_empty()
            || class.flags.contains(Flags::USER_VARIABLE_WRITE)
            || class.flags.contains(Flags::NAMED_LOCK)
            || class.flags.contains(Flags::MULTI)
            || matches!(
                class.kind,
                Kind::SetSession
                    | Kind::Use
                    | Kind::SetTransaction
                    | Kind::CreateTemporaryTable
                    | Kind::DropTemporaryTable
                    | Kind::Commit
                    | Kind::Rollback
                    | Kind::Xa
                    | Kind::GetDiagnostics
            )
    }

    /// The routing half of `load` (classify, plan, consistency) without running anything,
    /// so the benches can time the decision alone (`crate::__bench`). Returns the node
    /// index. No I/O unless a causal read needs a GTID wait.
    pub(crate) async fn route_only<T: QueryFragment<Mysql> + QueryId>(
        &mut self,
        source: &T,
    ) -> QueryResult<usize> {
        let (class, sql) = self.classify_query(source)?;
        let sql = self.sql_if_needed(source, sql, class)?;
        let plan = self.planned(class, sql.as_deref()).await?;
        self.prepare_read(plan, &[])
            .await
            .map(|p| p.node)
            .map_err(Error::into_diesel)
    }

    /// [`plan`](Self::plan) with Diesel's error.
    pub(crate) async fn planned(
        &mut self,
        class: Classification,
        sql: Option<&str>,
    ) -> QueryResult<Plan> {
        self.plan(class, sql).await.map_err(Error::into_diesel)
    }
}
