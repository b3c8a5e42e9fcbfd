package completion

import (
	"bytes"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/spf13/cobra"
)

// bashFallback stands in for the two functions of the bash-completion
// package that cobra's bash script calls, _get_comp_words_by_ref and
// _filedir, when that package is not loaded (a minimal container, a
// server without it): completion then works all the same. Where the
// package is loaded, its own functions are used.
const bashFallback = `# Stand-ins for bash-completion's _get_comp_words_by_ref and _filedir,
# used only where that package is not loaded.
__NAME_comp_words()
{
    if declare -F _get_comp_words_by_ref >/dev/null 2>&1; then
        _get_comp_words_by_ref "$@"
        return
    fi
    local exclude=""
    while [[ $1 == -* ]]; do
        case $1 in
            -n) exclude=$2; shift 2 ;;
            -n*) exclude=${1#-n}; shift ;;
            *) shift ;;
        esac
    done
    # bash splits "--output=json" into "--output" "=" "json" at the
    # characters of COMP_WORDBREAKS: join the pieces again around those in
    # $exclude, as bash-completion does.
    local i w glue=0 cw=0
    local -a joined=()
    for ((i = 0; i < ${#COMP_WORDS[@]}; i++)); do
        w=${COMP_WORDS[i]}
        if ((i > 0)) && [[ -n $exclude ]] && { ((glue)) || [[ -n $w && -z ${w//[$exclude]/} ]]; }; then
            joined[${#joined[@]}-1]+=$w
        else
            joined+=("$w")
        fi
        glue=0
        if [[ -n $exclude && -n $w && ${w: -1} == [$exclude] ]]; then
            glue=1
        fi
        if ((i == COMP_CWORD)); then
            cw=$((${#joined[@]} - 1))
        fi
    done
    words=("${joined[@]}")
    cword=$cw
    cur=${words[cword]}
    prev=""
    if ((cword > 0)); then
        prev=${words[cword-1]}
    fi
}

__NAME_filedir()
{
    if declare -F _filedir >/dev/null 2>&1; then
        _filedir "$@"
        return
    fi
    local IFS=$'\n'
    if [[ $1 == -d ]]; then
        COMPREPLY+=($(compgen -d -- "$cur"))
    elif [[ -n $1 ]]; then
        COMPREPLY+=($(compgen -d -- "$cur") $(shopt -s extglob; compgen -f -X "!*.@(${1%|})" -- "$cur"))
    else
        COMPREPLY+=($(compgen -f -- "$cur"))
    fi
}

`

// bashCalls are the calls in cobra's script to the bash-completion
// package, each routed through its stand-in.
var bashCalls = regexp.MustCompile(`\b(_get_comp_words_by_ref|_filedir)\b`)

// writeBash writes cobra's bash completion (V2, with descriptions) with
// the stand-ins, so it works with or without the bash-completion package.
func writeBash(w io.Writer, root *cobra.Command) error {
	var script bytes.Buffer
	if err := root.GenBashCompletionV2(&script, true); err != nil {
		return err
	}
	name := root.Name()
	out := bashCalls.ReplaceAllStringFunc(script.String(), func(call string) string {
		if call == "_filedir" {
			return "__" + name + "_filedir"
		}
		return "__" + name + "_comp_words"
	})
	if strings.Count(out, "__"+name+"_comp_words") == 0 {
		return fmt.Errorf("bash completion: cobra's script no longer calls _get_comp_words_by_ref")
	}
	header, body, _ := strings.Cut(out, "\n")
	_, err := io.WriteString(w, header+"\n\n"+strings.ReplaceAll(bashFallback, "__NAME_", "__"+name+"_")+body)
	return err
}
