//! Limits on what one operation may ask, on by default.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::SubscriptionType;
use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextPrepareRequest,
};
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{ObjectType, Request, Schema, SchemaBuilder, ServerError, ServerResult};

/// The deepest selection an operation may nest (fields within fields). GraphiQL's
/// introspection query nests 13 deep; a hostile query nests thousands.
pub const DEFAULT_MAX_DEPTH: usize = 16;

/// The most fields an operation may select, counting every fragment where it is spread
/// (async-graphql's complexity with a cost of 1 per field). GraphiQL's introspection query
/// costs about 200.
pub const DEFAULT_MAX_COMPLEXITY: usize = 1_000;

/// Starts a schema with [`limits`] applied: the way to build a schema for
/// [`GraphQL`](crate::GraphQL).
///
/// The limits can be changed on the builder: `schema(q, m, s).limit_depth(32)`.
pub fn schema<Query, Mutation, Subscription>(
    query: Query,
    mutation: Mutation,
    subscription: Subscription,
) -> SchemaBuilder<Query, Mutation, Subscription>
where
    Query: ObjectType + 'static,
    Mutation: ObjectType + 'static,
    Subscription: SubscriptionType + 'static,
{
    limits(Schema::build(query, mutation, subscription))
}

/// Most fields an operation may select once its fragments are spread out, checked before
/// validation; far above any complexity limit, so it only stops fragment bombs.
const MAX_SPREAD_FIELDS: usize = 100_000;

/// Deepest nesting of selections and fragment spreads the spread-out count follows
/// (async-graphql's validation refuses more than 32).
const MAX_SPREAD_NESTING: usize = 64;

/// Sets the depth ([`DEFAULT_MAX_DEPTH`]) and complexity ([`DEFAULT_MAX_COMPLEXITY`])
/// limits on a schema builder, and refuses fragment bombs. An operation over a limit is
/// answered with a GraphQL error before any resolver runs.
///
/// async-graphql's depth and complexity checks spread every fragment where it is used, so
/// a few kilobytes of fragments that each spread the next one 16 times would keep them
/// busy for hours; this counts the spread-out fields first, in time linear in the document.
pub fn limits<Query, Mutation, Subscription>(
    builder: SchemaBuilder<Query, Mutation, Subscription>,
) -> SchemaBuilder<Query, Mutation, Subscription> {
    builder
        .limit_depth(DEFAULT_MAX_DEPTH)
        .limit_complexity(DEFAULT_MAX_COMPLEXITY)
        .extension(FragmentBombGuard)
}

/// The async-graphql extension that refuses documents whose fragments spread out to more
/// than [`MAX_SPREAD_FIELDS`] fields.
struct FragmentBombGuard;

impl ExtensionFactory for FragmentBombGuard {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(FragmentBombGuard)
    }
}

#[async_graphql::async_trait::async_trait]
impl Extension for FragmentBombGuard {
    // Before parsing: async-graphql's own recursion check, run right after the parse,
    // spreads fragments out too. The document parsed here is kept in the request.
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        mut request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        // A document that does not parse is left to the executor, which reports why.
        if let Ok(document) = request.parsed_query() {
            let mut count = SpreadCount {
                document,
                sizes: HashMap::new(),
            };
            for (_, operation) in document.operations.iter() {
                if count
                    .selections(&operation.node.selection_set.node, 0)
                    .is_none()
                {
                    return Err(ServerError::new("Query is too large.", None));
                }
            }
        }
        next.run(ctx, request).await
    }
}

/// Counts the fields of a document with its fragments spread out, remembering each
/// fragment's count; `None` once the count passes [`MAX_SPREAD_FIELDS`] or the nesting
/// [`MAX_SPREAD_NESTING`].
struct SpreadCount<'a> {
    document: &'a ExecutableDocument,
    /// A fragment's count, or `None` while it is being counted (a cycle, which validation
    /// reports later, counts as empty here).
    sizes: HashMap<&'a str, Option<usize>>,
}

impl<'a> SpreadCount<'a> {
    fn selections(&mut self, set: &'a SelectionSet, nesting: usize) -> Option<usize> {
        if nesting > MAX_SPREAD_NESTING {
            return None;
        }
        let mut total = 0usize;
        for selection in &set.items {
            let count = match &selection.node {
                Selection::Field(field) => {
                    1 + self.selections(&field.node.selection_set.node, nesting + 1)?
                }
                Selection::InlineFragment(inline) => {
                    self.selections(&inline.node.selection_set.node, nesting + 1)?
                }
                Selection::FragmentSpread(spread) => {
                    self.fragment(spread.node.fragment_name.node.as_str(), nesting + 1)?
                }
            };
            total = total
                .checked_add(count)
                .filter(|total| *total <= MAX_SPREAD_FIELDS)?;
        }
        Some(total)
    }

    fn fragment(&mut self, name: &'a str, nesting: usize) -> Option<usize> {
        if let Some(size) = self.sizes.get(name) {
            return Some(size.unwrap_or(0));
        }
        let Some(fragment) = self.document.fragments.get(name) else {
            return Some(0);
        };
        self.sizes.insert(name, None);
        let size = self.selections(&fragment.node.selection_set.node, nesting)?;
        self.sizes.insert(name, Some(size));
        Some(size)
    }
}
