//! The REST resource: `GET /books`, `GET /books/{id}`, `POST /books`.

use allframe::http::StatusCode;
use allframe::openapi::routing::get;
use allframe::{Json, Path, Problem, Router, State};

use crate::{Book, EmptyTitle, Library, NewBook};

/// Every book, oldest first.
async fn list_books(State(library): State<Library>) -> Json<Vec<Book>> {
    Json(library.books())
}

/// One book; `404` when there is none with this id.
async fn get_book(
    State(library): State<Library>,
    Path(id): Path<u64>,
) -> Result<Json<Book>, Problem> {
    library.book(id).map(Json).ok_or_else(|| {
        Problem::new(StatusCode::NOT_FOUND).with_detail(format!("there is no book {id}"))
    })
}

/// Adds a book: `201` with the book and its id, `422` when the title is empty.
async fn add_book(
    State(library): State<Library>,
    Json(new): Json<NewBook>,
) -> Result<(StatusCode, Json<Book>), Problem> {
    let book = library.add(new)?;
    Ok((StatusCode::CREATED, Json(book)))
}

impl From<EmptyTitle> for Problem {
    fn from(err: EmptyTitle) -> Self {
        Problem::new(StatusCode::UNPROCESSABLE_ENTITY).with_detail(err.to_string())
    }
}

pub(crate) fn routes(router: Router<Library>) -> Router<Library> {
    router
        .route("/books", get(list_books).post(add_book))
        .route("/books/{id}", get(get_book))
}
