# Writes OUT (klaxon_commit.hpp) with the git commit of SOURCE_DIR, run at every build so that
# `klaxon --version` names the commit actually built. The file is rewritten only when the text
# changes (configure_file keeps it otherwise), so an unchanged commit recompiles nothing.
# Without git or a .git (a source tarball), the commit is "unknown".
set(commit "unknown")
find_program(GIT git)
if(GIT AND EXISTS "${SOURCE_DIR}/.git")
  execute_process(COMMAND "${GIT}" -C "${SOURCE_DIR}" rev-parse --short=12 HEAD
                  OUTPUT_VARIABLE head OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE failed ERROR_QUIET)
  if(NOT failed AND head)
    set(commit "${head}")
    execute_process(COMMAND "${GIT}" -C "${SOURCE_DIR}" diff --quiet HEAD --
                    RESULT_VARIABLE dirty ERROR_QUIET)
    if(dirty)
      string(APPEND commit "-dirty")
    endif()
  endif()
endif()
file(WRITE "${OUT}.tmp" "#pragma once\n#define KLAXON_GIT_COMMIT \"${commit}\"\n")
configure_file("${OUT}.tmp" "${OUT}" COPYONLY)
file(REMOVE "${OUT}.tmp")
