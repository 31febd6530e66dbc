"""A papermill parameter the chapter does not define stops the chapter, naming the chapter's parameters."""

import nbformat
import pytest

from paperlib import book

OWN = 'profile = "quick"\nseeds = [0]\noverrides = {}\n'


def test_an_unknown_injected_parameter_is_named_with_the_chapter_s_list():
    with pytest.raises(
        ValueError,
        match=r"unknown parameter \['seed'\] .*its parameters are \['overrides', "
        r"'profile', 'seeds'\]",
    ):
        book.check_injected_parameters(["", OWN, '# Parameters\nprofile = "smoke"\nseed = "[0, 1]"\n'])
    book.check_injected_parameters(["", OWN, '# Parameters\nprofile = "smoke"\nseeds = "[0, 1]"\n'])
    book.check_injected_parameters(["", OWN, "import paperlib\n"])  # run by hand: nothing injected


@pytest.mark.slow  # runs a kernel
def test_papermill_stops_the_chapter(tmp_path):
    pm = pytest.importorskip("papermill")
    nb = nbformat.v4.new_notebook(
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python"},
        }
    )
    nb.cells = [
        nbformat.v4.new_code_cell(OWN, metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("from paperlib import book\nbook.check_injected_parameters()\nran = True"),
    ]
    src = tmp_path / "chapter.ipynb"
    nbformat.write(nb, src)
    pm.execute_notebook(
        str(src), str(tmp_path / "ok.ipynb"), parameters={"seeds": "[0, 1]"}, kernel_name="python3", progress_bar=False
    )
    with pytest.raises(pm.PapermillExecutionError, match=r"unknown parameter \['seed'\]"):
        pm.execute_notebook(
            str(src),
            str(tmp_path / "typo.ipynb"),
            parameters={"seed": "[0, 1]"},
            kernel_name="python3",
            progress_bar=False,
        )
