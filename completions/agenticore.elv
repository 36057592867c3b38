
set edit:completion:arg-completer[agenticore] = { |@words|
    var index = (count $words)
    set index = (- $index 1)

    put (env _CLAP_IFS="\n" _CLAP_COMPLETE_INDEX=(to-string $index) AGENTICORE_COMPLETE="elvish" agenticore -- $@words) | to-lines
}

