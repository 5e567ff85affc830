// fusepp umbrella header: pyfuse3's API in C++20 over libfuse3's low-level API.
// Include this one header to write a filesystem: types, Operations, Session and helpers.
#pragma once

#include "fusepp/call.hpp"
#include "fusepp/operations.hpp"
#include "fusepp/session.hpp"
#include "fusepp/types.hpp"
