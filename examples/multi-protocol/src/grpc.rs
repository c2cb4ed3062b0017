//! The gRPC service `library.v1.Catalog`, on the same [`Library`] as REST and GraphQL.

use allframe::grpc::Grpc;
use tonic::{Request, Response, Status};

use crate::{EmptyTitle, Library, NewBook};

/// The code tonic-prost-build generated from `proto/library.proto` (see `build.rs`): the
/// server the application serves and the client its tests call.
// Generated code: not ours to document or lint.
#[allow(unreachable_pub, missing_debug_implementations, clippy::all)]
pub mod pb {
    include!(concat!(env!("OUT_DIR"), "/library.v1.rs"));

    /// The encoded `FileDescriptorSet` of `library.proto`, for the reflection service.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        include_bytes!(concat!(env!("OUT_DIR"), "/library_descriptor.bin"));
}

use pb::catalog_server::{Catalog, CatalogServer};
use pb::{GetBookRequest, ListBooksRequest};

#[derive(Debug)]
struct CatalogService(Library);

impl From<crate::Book> for pb::Book {
    fn from(book: crate::Book) -> Self {
        Self {
            id: book.id,
            title: book.title,
            author: book.author,
        }
    }
}

impl From<EmptyTitle> for Status {
    fn from(err: EmptyTitle) -> Self {
        Status::invalid_argument(err.to_string())
    }
}

#[tonic::async_trait]
impl Catalog for CatalogService {
    async fn get_book(&self, req: Request<GetBookRequest>) -> Result<Response<pb::Book>, Status> {
        let id = req.into_inner().id;
        match self.0.book(id) {
            Some(book) => Ok(Response::new(book.into())),
            None => Err(Status::not_found(format!("there is no book {id}"))),
        }
    }

    type ListBooksStream = tokio_stream::Iter<std::vec::IntoIter<Result<pb::Book, Status>>>;

    async fn list_books(
        &self,
        _: Request<ListBooksRequest>,
    ) -> Result<Response<Self::ListBooksStream>, Status> {
        let books: Vec<_> = self.0.books().into_iter().map(|b| Ok(b.into())).collect();
        Ok(Response::new(tokio_stream::iter(books)))
    }

    async fn add_book(&self, req: Request<pb::NewBook>) -> Result<Response<pb::Book>, Status> {
        let pb::NewBook { title, author } = req.into_inner();
        let book = self.0.add(NewBook { title, author })?;
        Ok(Response::new(book.into()))
    }
}

/// The gRPC side: the catalog, health (`SERVING` for it and for the server) and reflection.
pub(crate) fn services(library: Library) -> Grpc {
    Grpc::new()
        .add_service(CatalogServer::new(CatalogService(library)))
        .with_health()
        .with_reflection(pb::FILE_DESCRIPTOR_SET)
}
