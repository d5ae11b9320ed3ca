"""The Max package and the Pure Data abstraction folder, written from the OSC address table
(``antiphon osc-patches``).

Layout of the output folder (``maxpatches/`` in the repository)::

    README.md                       what is here and how to install each
    antiphon/                       a Max package (copy or link it into Max's Packages folder)
      package-info.json             name, version (the ``agent`` package's), Max and OS versions
      patchers/antiphon.maxpat      the [antiphon] abstraction
      help/antiphon.maxhelp         its help patch
      docs/refpages/antiphon/antiphon.maxref.xml   its reference page (messages from the table)
      extras/antiphon-overview.maxpat              the overview, in Max's Extras menu
      README.md
    pd/antiphon/                    a Pd abstraction folder (add it to Pd's path)
      antiphon.pd, antiphon-help.pd, README.md

The abstraction has one control per incoming address (number boxes, toggles, buttons, editable
message boxes for paths) for the agent ``answer``, sends through ``udpsend`` (Max) or ``oscformat``
+ ``netsend -u -b`` (Pd) to 127.0.0.1:7400, and receives on 7401 (``udpreceive`` /
``netreceive -u -b`` + ``oscparse``), routing status, events, errors and pongs to displays and
prints, and plays an arranger's notes (``/antiphon/event/note``): ``makenote`` -> ``noteout`` for a
MIDI synth, and a small sine synth (``poly``, one ``mtof`` -> oscillator x envelope per voice) on the
audio output. Its inlet takes any OSC message (``/antiphon/<agent>/<command> args``: sent as is) and two
messages of its own, ``connect <host> <port>`` (where to send) and ``listen <port>`` (where to
receive); its outlet gives every message received. Help patches, the overview and the refpage
explain every address with the table's help text.

Modules: ``folders`` (names and paths of what is written), ``abstraction`` (what the abstraction
is in both hosts, and the shared help texts), ``pd_patch`` (the Pd abstraction and its help),
``max_patcher`` (the Max abstraction, help and overview), ``max_package`` (package-info.json and
the refpage), ``readmes`` (the three READMEs), ``files`` (every file by its path, and writing them).
"""

from __future__ import annotations

from agent.osc.patches.files import patch_files, write_patches

__all__ = ["patch_files", "write_patches"]
