//! A Diesel query turned into owned SQL and bind values before the async connection
//! decides where it runs: the decision may wait (a causal wait, a reconnect), and
//! diesel-async's `load` does not promise that the query outlives the connection
//! borrow. The query keeps its static query id, so each node connection's prepared
//! statement cache works as it does for the query itself.

use std::any::TypeId;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::marker::PhantomData;
use std::sync::Arc;

use diesel::mysql::{Mysql, MysqlQueryBuilder};
use diesel::query_builder::bind_collector::RawBytesBindCollector;
use diesel::query_builder::{AstPass, Query, QueryBuilder, QueryFragment, QueryId};
use diesel::result::QueryResult;
use diesel::sql_types::Untyped;

use crate::classify::{self, Classification};

/// Marks a query whose id is its original query's (`Static<I>`) or that has none.
pub(crate) struct Static<I>(PhantomData<fn() -> I>);
pub(crate) struct Dynamic;

/// The SQL and binds of a query, with the id of `K`.
pub(crate) struct Collected<K> {
    pub(crate) sql: Arc<str>,
    safe_to_cache: bool,
    binds: RawBytesBindCollector<Mysql>,
    _id: PhantomData<K>,
}

/// A collected query of either kind.
pub(crate) enum Owned<I> {
    Static(Collected<Static<I>>),
    Dynamic(Collected<Dynamic>),
}

/// The SQL of the queries with a static id that are safe to prepare once, by type, with
/// its classification: Diesel's statement caches rely on such a query's SQL being the
/// same every time, so it is rendered and classified once per connection, and later
/// only its binds are collected.
pub(crate) type SqlCache<S> = HashMap<TypeId, (Arc<str>, Classification), S>;

/// Renders `query` (or takes its SQL from `cache`) and collects its binds. The
/// classification comes with it when the SQL is cached (`None`: classify the SQL).
pub(crate) fn collect<T, S>(
    query: &T,
    cache: &mut SqlCache<S>,
) -> QueryResult<(Owned<T::QueryId>, Option<Classification>)>
where
    T: QueryFragment<Mysql> + QueryId,
    S: BuildHasher,
{
    let safe_to_cache = query.is_safe_to_cache_prepared(&Mysql)?;
    let render = || -> QueryResult<Arc<str>> {
        let mut qb = MysqlQueryBuilder::new();
        query.to_sql(&mut qb, &Mysql)?;
        Ok(qb.finish().into())
    };
    let (sql, class) = match T::query_id().filter(|_| safe_to_cache) {
        Some(id) => match cache.get(&id) {
            Some((sql, class)) => (sql.clone(), Some(*class)),
            None => {
                let sql = render()?;
                let class = classify::classify(&sql);
                cache.insert(id, (sql.clone(), class));
                (sql, Some(class))
            }
        },
        None => (render()?, None),
    };
    let mut binds = RawBytesBindCollector::<Mysql>::new();
    query.collect_binds(&mut binds, &mut (), &Mysql)?;
    let owned = if T::HAS_STATIC_QUERY_ID {
        Owned::Static(Collected {
            sql,
            safe_to_cache,
            binds,
            _id: PhantomData,
        })
    } else {
        Owned::Dynamic(Collected {
            sql,
            safe_to_cache,
            binds,
            _id: PhantomData,
        })
    };
    Ok((owned, class))
}

impl<I> Owned<I> {
    pub(crate) fn sql(&self) -> &str {
        match self {
            Owned::Static(c) => &c.sql,
            Owned::Dynamic(c) => &c.sql,
        }
    }
}

impl<K> QueryFragment<Mysql> for Collected<K> {
    fn walk_ast<'b>(&'b self, mut pass: AstPass<'_, 'b, Mysql>) -> QueryResult<()> {
        if !self.safe_to_cache {
            pass.unsafe_to_cache_prepared();
        }
        pass.push_sql(&self.sql);
        pass.push_bind_collector_data(&self.binds)
    }
}

impl<I: 'static> QueryId for Collected<Static<I>> {
    type QueryId = I;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl QueryId for Collected<Dynamic> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<K> Query for Collected<K> {
    type SqlType = Untyped;
}
