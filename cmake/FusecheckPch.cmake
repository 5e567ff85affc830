# Precompiled headers: the standard and third-party headers that most translation units parse
# (the standard library, nlohmann/json, fmt, Boost.Asio where fusepp is linked, GoogleTest in
# tests) are parsed once per set of targets instead of once per file. Parsing was half of every file's compile time, and the
# two cold builds are most of CI's time. Project headers stay out, so editing one never
# rebuilds a header set.
option(FUSECHECK_PCH "Precompile the standard and third-party headers" ON)

set(FUSECHECK_PCH_STD <utility> <algorithm> <atomic> <chrono> <cstring> <filesystem> <fstream> <functional>
    <map> <memory> <mutex> <optional> <set> <sstream> <string> <string_view> <thread> <vector>)
set(FUSECHECK_PCH_DATA <fmt/format.h> <nlohmann/json.hpp>)
set(FUSECHECK_PCH_ASIO <boost/asio/awaitable.hpp> <boost/asio/co_spawn.hpp> <boost/asio/detached.hpp>
    <boost/asio/io_context.hpp> <boost/asio/post.hpp> <boost/asio/steady_timer.hpp>
    <boost/asio/use_awaitable.hpp>)
# Only what nearly every file of a set includes: GCC loads the whole precompiled state into every
# file, so a header that a few files need (Boost.Process, yaml-cpp, rapidcheck) made the
# harness and fuzz libraries slower to build, not faster.
set(FUSECHECK_PCH_HARNESS ${FUSECHECK_PCH_STD} ${FUSECHECK_PCH_DATA})

# Precompiles `headers` for `target`, the first of a set.
function(fusecheck_precompile target)
  if(FUSECHECK_PCH)
    target_precompile_headers(${target} PRIVATE ${ARGN})
  endif()
endfunction()

# `target` uses the headers `owner` precompiled. Both must have the same compile options and
# definitions: GCC checks (-Winvalid-pch, an error under FUSECHECK_WERROR), so a mismatch
# shows as a failed build rather than a silently slower one.
function(fusecheck_reuse_pch target owner)
  if(FUSECHECK_PCH)
    target_precompile_headers(${target} REUSE_FROM ${owner})
  endif()
endfunction()

# A set owned by no target of its own: an object library of one empty file that links `LINK`
# (so it gets their definitions and include directories) and precompiles `HEADERS`, for the
# test executables of one part to reuse.
function(fusecheck_pch_set name)
  cmake_parse_arguments(SET "" "" "LINK;HEADERS" ${ARGN})
  if(FUSECHECK_PCH)
    add_library(${name} OBJECT ${PROJECT_SOURCE_DIR}/cmake/pch_set.cpp)
    target_link_libraries(${name} PRIVATE ${SET_LINK})
    target_precompile_headers(${name} PRIVATE ${SET_HEADERS})
  endif()
endfunction()
