// Executors of the extended-attribute ops, each in its path, l (no follow) and f (fd) form.
#include <sys/xattr.h>

#include "actor.hpp"
#include "fusecheck/protocol.hpp"

namespace fusecheck::actor {

using nlohmann::json;

namespace {

std::string name_arg(const json& request) { return request.at("name").get<std::string>(); }

json set_result(int rc) {
  check(rc == 0);
  return json::object();
}

json setxattr_op(const json& request) {
  std::string value = data_arg(request);
  return set_result(::setxattr(path_arg(request).c_str(), name_arg(request).c_str(), value.data(), value.size(),
                               static_cast<int>(num(request, "flags", 0))));
}

json lsetxattr_op(const json& request) {
  std::string value = data_arg(request);
  return set_result(::lsetxattr(path_arg(request).c_str(), name_arg(request).c_str(), value.data(), value.size(),
                                static_cast<int>(num(request, "flags", 0))));
}

json fsetxattr_op(const json& request) {
  std::string value = data_arg(request);
  return set_result(::fsetxattr(fd_arg(request), name_arg(request).c_str(), value.data(), value.size(),
                                static_cast<int>(num(request, "flags", 0))));
}

// getxattr and friends: a zero-size buffer asks for the value's size only.
std::string value_buffer(const json& request) {
  return std::string(static_cast<size_t>(num(request, "size", 65536)), '\0');
}

json value_result(std::string& buffer, ssize_t got) {
  check(got >= 0);
  buffer.resize(buffer.empty() ? 0 : static_cast<size_t>(got));
  return json{{"data", to_hex(buffer)}, {"size", got}};
}

json getxattr_op(const json& request) {
  std::string buffer = value_buffer(request);
  return value_result(buffer,
                      ::getxattr(path_arg(request).c_str(), name_arg(request).c_str(), buffer.data(), buffer.size()));
}

json lgetxattr_op(const json& request) {
  std::string buffer = value_buffer(request);
  return value_result(buffer,
                      ::lgetxattr(path_arg(request).c_str(), name_arg(request).c_str(), buffer.data(), buffer.size()));
}

json fgetxattr_op(const json& request) {
  std::string buffer = value_buffer(request);
  return value_result(buffer, ::fgetxattr(fd_arg(request), name_arg(request).c_str(), buffer.data(), buffer.size()));
}

json names_result(const std::string& buffer, ssize_t got) {
  check(got >= 0);
  json names = json::array();
  if (buffer.empty()) return json{{"names", names}, {"size", got}};
  for (ssize_t at = 0; at < got;) {
    std::string name(buffer.data() + at);
    names.push_back(name);
    at += static_cast<ssize_t>(name.size()) + 1;
  }
  return json{{"names", names}, {"size", got}};
}

json listxattr_op(const json& request) {
  std::string buffer = value_buffer(request);
  return names_result(buffer, ::listxattr(path_arg(request).c_str(), buffer.data(), buffer.size()));
}

json llistxattr_op(const json& request) {
  std::string buffer = value_buffer(request);
  return names_result(buffer, ::llistxattr(path_arg(request).c_str(), buffer.data(), buffer.size()));
}

json flistxattr_op(const json& request) {
  std::string buffer = value_buffer(request);
  return names_result(buffer, ::flistxattr(fd_arg(request), buffer.data(), buffer.size()));
}

json removexattr_op(const json& request) {
  return set_result(::removexattr(path_arg(request).c_str(), name_arg(request).c_str()));
}

json lremovexattr_op(const json& request) {
  return set_result(::lremovexattr(path_arg(request).c_str(), name_arg(request).c_str()));
}

json fremovexattr_op(const json& request) {
  return set_result(::fremovexattr(fd_arg(request), name_arg(request).c_str()));
}

}  // namespace

const std::vector<Executor> xattr_executors = {
    {"setxattr", setxattr_op},       {"lsetxattr", lsetxattr_op},       {"fsetxattr", fsetxattr_op},
    {"getxattr", getxattr_op},       {"lgetxattr", lgetxattr_op},       {"fgetxattr", fgetxattr_op},
    {"listxattr", listxattr_op},     {"llistxattr", llistxattr_op},     {"flistxattr", flistxattr_op},
    {"removexattr", removexattr_op}, {"lremovexattr", lremovexattr_op}, {"fremovexattr", fremovexattr_op},
};

}  // namespace fusecheck::actor
