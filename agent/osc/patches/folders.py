"""Where ``antiphon osc-patches`` puts things: the abstraction's name, the Max package and the Pd
abstraction folder inside the output folder, the overview and reference page inside the package,
and the oldest Max and Pd each is made for."""

from __future__ import annotations

from pathlib import Path

NAME = "antiphon"  # the abstraction (Max and Pd) and the Max package
MAX_PACKAGE = Path(NAME)  # the Max package folder, inside the output folder
PD_FOLDER = Path("pd") / NAME  # the Pd abstraction folder, inside the output folder
OVERVIEW = f"{NAME}-overview.maxpat"  # in the package's extras/
REFPAGE = Path("docs") / "refpages" / NAME / f"{NAME}.maxref.xml"  # inside the package
MAX_VERSION_MIN = "8.0"
PD_VERSION_MIN = "0.51"
