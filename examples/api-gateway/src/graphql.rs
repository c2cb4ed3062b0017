//! GraphQL over the same backend calls: `items`, `item(sku)` and `reserve(sku, quantity)`,
//! failures as errors whose `extensions.code` means what the REST status does.

use async_graphql::{Context, EmptySubscription, Object, Schema};

use crate::Gateway;
use crate::rest::Item;

pub(crate) type GatewaySchema = Schema<QueryRoot, MutationRoot, EmptySubscription>;

pub(crate) fn schema() -> GatewaySchema {
    allframe::graphql::schema(QueryRoot, MutationRoot, EmptySubscription).finish()
}

fn gateway<'a>(ctx: &Context<'a>) -> &'a Gateway {
    ctx.data_unchecked::<Gateway>()
}

#[derive(Debug)]
pub(crate) struct QueryRoot;

#[Object]
impl QueryRoot {
    /// Every item.
    async fn items(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Item>> {
        let items = gateway(ctx).backend.items().await?;
        Ok(items.into_iter().map(Item::from).collect())
    }

    /// One item (`NOT_FOUND` when there is none with this SKU).
    async fn item(&self, ctx: &Context<'_>, sku: String) -> async_graphql::Result<Item> {
        Ok(gateway(ctx).backend.item(&sku).await?.into())
    }
}

#[derive(Debug)]
pub(crate) struct MutationRoot;

#[Object]
impl MutationRoot {
    /// Takes `quantity` (1 to 1000) out of an item's stock: what is left.
    async fn reserve(
        &self,
        ctx: &Context<'_>,
        sku: String,
        quantity: u32,
    ) -> async_graphql::Result<Item> {
        Ok(gateway(ctx).backend.reserve(&sku, quantity).await?.into())
    }
}
