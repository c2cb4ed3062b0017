//! Handlers that describe themselves: every argument an [`OperationInput`], the output an
//! [`OperationOutput`].

use std::future::Future;

use super::{OperationInput, OperationOutput, SchemaGenerator};
use crate::openapi::Operation;

/// A handler whose OpenAPI operation follows from its types, as
/// [`routing`](super::routing)'s functions require. `T` is the same marker as
/// [`Handler`](crate::Handler)'s, so one handler value satisfies both.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot describe its OpenAPI operation",
    note = "every argument must implement `OperationInput` and the output `OperationOutput`: types inside `Json`, `Query` and `Path` derive `JsonSchema`",
    note = "route it with `allframe::routing` instead to serve it undescribed"
)]
pub trait DescribeHandler<T> {
    /// Adds what the handler's extractors read and how they fail, and what its output
    /// answers, to `op`.
    fn describe(op: &mut Operation, schemas: &mut SchemaGenerator);
}

impl<F, Fut, Res> DescribeHandler<((),)> for F
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Res>,
    Res: OperationOutput,
{
    fn describe(op: &mut Operation, schemas: &mut SchemaGenerator) {
        Res::describe(op, schemas);
    }
}

macro_rules! impl_describe_handler {
    ([$($ty:ident),*], $last:ident) => {
        impl<F, Fut, Res, M, $($ty,)* $last> DescribeHandler<(M, $($ty,)* $last,)> for F
        where
            F: FnOnce($($ty,)* $last,) -> Fut,
            Fut: Future<Output = Res>,
            Res: OperationOutput,
            $( $ty: OperationInput, )*
            $last: OperationInput,
        {
            fn describe(op: &mut Operation, schemas: &mut SchemaGenerator) {
                $( $ty::describe(op, schemas); )*
                $last::describe(op, schemas);
                Res::describe(op, schemas);
            }
        }
    };
}

impl_describe_handler!([], T1);
impl_describe_handler!([T1], T2);
impl_describe_handler!([T1, T2], T3);
impl_describe_handler!([T1, T2, T3], T4);
impl_describe_handler!([T1, T2, T3, T4], T5);
impl_describe_handler!([T1, T2, T3, T4, T5], T6);
impl_describe_handler!([T1, T2, T3, T4, T5, T6], T7);
impl_describe_handler!([T1, T2, T3, T4, T5, T6, T7], T8);
impl_describe_handler!([T1, T2, T3, T4, T5, T6, T7, T8], T9);
impl_describe_handler!([T1, T2, T3, T4, T5, T6, T7, T8, T9], T10);
impl_describe_handler!([T1, T2, T3, T4, T5, T6, T7, T8, T9, T10], T11);
impl_describe_handler!([T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11], T12);
