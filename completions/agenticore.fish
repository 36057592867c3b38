complete --keep-order --exclusive --command agenticore --arguments "(AGENTICORE_COMPLETE=fish agenticore -- (commandline --current-process --tokenize --cut-at-cursor) (commandline --current-token))"
