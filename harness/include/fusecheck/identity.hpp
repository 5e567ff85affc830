// Who an actor is: uid, gid, supplementary groups and umask. Kept apart from the scenario
// types so the actor client (actor.hpp) does not pull in the YAML parser.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace fusecheck {

struct Identity {
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;
  mode_t umask = 022;
  std::string key() const;  // equal keys = interchangeable actor processes
};

}  // namespace fusecheck
