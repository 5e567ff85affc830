# Install rules and the CMake package: `cmake --install` puts the executables in bin/, the
# libraries and headers under lib/ and include/, the scenarios and expectations under
# share/fusecheck/, and find_package(fusecheck CONFIG) gives fusecheck::fusepp,
# fusecheck::fusepp_mountinfo (header-only), fusecheck::fusepp_testing, fusecheck::memfs (the
# library), fusecheck::fuzz, the executables (fusecheck::fusecheck, ::actor, ::memfs_daemon)
# and fusecheck_add_conformance_test.
include(CMakePackageConfigHelpers)
set(FUSECHECK_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/fusecheck)

set_target_properties(fusepp-testing PROPERTIES EXPORT_NAME fusepp_testing)
set_target_properties(fusepp-mountinfo PROPERTIES EXPORT_NAME fusepp_mountinfo)
set_target_properties(fusecheck-fuzz PROPERTIES EXPORT_NAME fuzz)
set_target_properties(fusecheck-harness PROPERTIES EXPORT_NAME harness)
set_target_properties(fusecheck-protocol PROPERTIES EXPORT_NAME protocol)
set_target_properties(fusecheck-actor PROPERTIES EXPORT_NAME actor)
set_target_properties(fusecheck-memfs PROPERTIES EXPORT_NAME memfs_daemon)

# Three export sets, so a project that uses only the binding loads none of the harness's
# dependencies (yaml-cpp, nlohmann_json, CLI11, rapidcheck, Boost.Filesystem).
install(TARGETS fusepp fusepp-mountinfo fusepp-testing memfs EXPORT fusecheck-fusepp
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(TARGETS fusecheck-fuzz fusecheck-harness fusecheck-protocol EXPORT fusecheck-fuzz
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(TARGETS fusecheck fusecheck-actor fusecheck-memfs EXPORT fusecheck-tools
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
foreach(set fusepp fuzz tools)
  install(EXPORT fusecheck-${set} NAMESPACE fusecheck:: FILE fusecheck-${set}-targets.cmake
          DESTINATION ${FUSECHECK_CMAKE_DIR})
endforeach()

install(DIRECTORY binding/include/fusepp reference-fs/include/memfs DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY harness/include/fusecheck fuzz/include/fusecheck DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY scenarios expectations DESTINATION ${CMAKE_INSTALL_DATADIR}/fusecheck)

configure_package_config_file(cmake/fusecheckConfig.cmake.in ${PROJECT_BINARY_DIR}/fusecheckConfig.cmake
                              INSTALL_DESTINATION ${FUSECHECK_CMAKE_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/fusecheckConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/fusecheckConfig.cmake ${PROJECT_BINARY_DIR}/fusecheckConfigVersion.cmake
              cmake/FusecheckConformance.cmake
        DESTINATION ${FUSECHECK_CMAKE_DIR})

# pkg-config for the binding alone; prefix is computed from the .pc file's own place.
file(RELATIVE_PATH FUSEPP_PC_TO_PREFIX ${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_LIBDIR}/pkgconfig
     ${CMAKE_INSTALL_PREFIX})
configure_file(cmake/fusepp.pc.in ${PROJECT_BINARY_DIR}/fusepp.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/fusepp.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# `cpack -G DEB` in the build directory makes a .deb of the same tree. Depends: what the
# installed programs load (ldd: libfuse3, libfmt, libyaml-cpp) and what the installed
# headers and CMake package need to build against fusepp (nlohmann_json, Boost).
set(CPACK_PACKAGE_NAME fusecheck)
set(CPACK_PACKAGE_CONTACT "fusecheck maintainers <fusecheck@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "FUSE filesystem conformance harness and the fusepp binding")
set(CPACK_DEBIAN_PACKAGE_DEPENDS "fuse3, libfuse3-dev, libboost-dev, libfmt-dev, libyaml-cpp0.7, nlohmann-json3-dev")
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS OFF)
set(CPACK_GENERATOR DEB)
include(CPack)
