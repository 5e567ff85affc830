// Calling a filesystem's own handlers from another handler, as pyfuse3 code does with
// `await self.getattr(inode, None)`: fusepp::call() gives a Result whichever way the handler
// failed, and fusepp::no_context stands for pyfuse3's ctx=None.
#pragma once

#include <utility>  // before Asio: Boost 1.74's awaitable.hpp needs std::exchange

#include <boost/asio/awaitable.hpp>

#include "fusepp/types.hpp"

namespace fusepp {

// Awaits a handler and returns its Result, turning a thrown FUSEError into a returned one, so
// the caller checks one thing: `Result<EntryAttributes> attr = co_await call(getattr(ino, ctx));`.
// Other exceptions pass through (the dispatcher answers them with EIO).
template <class T>
boost::asio::awaitable<Result<T>> call(boost::asio::awaitable<Result<T>> handler) {
  try {
    Result<T> result = co_await std::move(handler);
    co_return result;
  } catch (const FUSEError& error) {
    co_return error;
  }
}

}  // namespace fusepp
