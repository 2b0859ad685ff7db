# CPACK_PRE_BUILD_SCRIPTS of the Debian package: runs on the staged tree after `cmake --install` and
# before dpkg-deb, and adds what a Debian binary package has beyond the generic install:
#   - man pages compressed (gzip -9n: no time stamp, so the package is reproducible);
#   - usr/share/doc/raythenad/copyright and changelog.gz;
#   - the systemd unit in usr/lib/systemd/system and the sysusers file in usr/lib/sysusers.d, with the
#     unit's /usr/local paths (the default prefix of `cmake --install`) turned into /usr.
if(NOT CPACK_GENERATOR STREQUAL "DEB")
  return()
endif()
set(root "${CPACK_TEMPORARY_INSTALL_DIRECTORY}")
set(prefix "${CPACK_PACKAGING_INSTALL_PREFIX}")
set(stage "${root}${prefix}")
if(NOT EXISTS "${stage}/bin/raythenad")
  message(FATAL_ERROR "pre-build.cmake: ${stage}/bin/raythenad is not there: not a staged raythenad tree")
endif()

find_program(RTY_GZIP gzip REQUIRED)
file(GLOB _pages "${stage}/share/man/man*/*.[0-9]")
foreach(page IN LISTS _pages)
  execute_process(COMMAND "${RTY_GZIP}" -9nf "${page}" RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "pre-build.cmake: gzip ${page} failed (${rc})")
  endif()
endforeach()

set(doc "${stage}/share/doc/raythenad")
file(MAKE_DIRECTORY "${doc}")
file(COPY_FILE "${CPACK_RTY_PACKAGING_DIR}/deb/copyright" "${doc}/copyright")
# changelog: one entry for this version, dated from SOURCE_DATE_EPOCH when set (reproducible builds).
string(TIMESTAMP _date "%a, %d %b %Y %H:%M:%S +0000" UTC)
file(WRITE "${doc}/changelog"
  "raythenad (${CPACK_PACKAGE_VERSION}) unstable; urgency=medium\n\n"
  "  * raythenad ${CPACK_PACKAGE_VERSION}, packaged by CPack from the source tree.\n\n"
  " -- ${CPACK_DEBIAN_PACKAGE_MAINTAINER}  ${_date}\n")
execute_process(COMMAND "${RTY_GZIP}" -9nf "${doc}/changelog" RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "pre-build.cmake: gzip ${doc}/changelog failed (${rc})")
endif()

set(units "${stage}/share/raythenad/systemd")
foreach(f "raythenad@.service" "raythenad.sysusers.conf")
  if(NOT EXISTS "${units}/${f}")
    message(FATAL_ERROR "pre-build.cmake: ${units}/${f} is not there (systemd/ of the source tree)")
  endif()
endforeach()
file(READ "${units}/raythenad@.service" _unit)
string(REPLACE "/usr/local/" "${prefix}/" _unit "${_unit}")
string(REPLACE "where `cmake --install` puts them by default (${prefix}/bin)" "where this package puts them (${prefix}/bin)"
       _unit "${_unit}")
file(WRITE "${units}/raythenad@.service" "${_unit}")
file(MAKE_DIRECTORY "${stage}/lib/systemd/system" "${stage}/lib/sysusers.d")
file(COPY_FILE "${units}/raythenad@.service" "${stage}/lib/systemd/system/raythenad@.service")
file(COPY_FILE "${units}/raythenad.sysusers.conf" "${stage}/lib/sysusers.d/raythenad.conf")
