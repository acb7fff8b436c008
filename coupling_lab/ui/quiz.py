"""Prediction questions: the learner commits to an answer before the reveal.

A :class:`Prediction` reveals what answers it only after **Check**: its own
``reveal`` (inside the question's box), and any number of :class:`Revealed`
blocks further down the page (:meth:`Prediction.after_check`): the findings a
lesson states, or an app that would answer the question. A block's text is
computed at the first Check, so before it the page (and what the kernel sends
it) holds none of the numbers.
"""
from __future__ import annotations

import html

import ipywidgets as widgets

from ._common import Status, read_control

__all__ = ["Prediction", "Revealed"]

#: what a hidden block says until the prediction is checked
WAITING = "This part appears once you have pressed Check on the prediction above."


class Prediction:
    """A multiple-choice prediction with a "Check" button and feedback per option.

    Parameters
    ----------
    question : str
        Plain text (HTML-escaped when shown).
    options : sequence of str
        The choices, shown in this order.
    answer : str or int
        The correct option, by text or by position in ``options``.
    feedback : dict option -> str, or sequence of str aligned with ``options``
        What the learner reads after checking that option (why it is right or
        what it overlooks). Missing entries get a short default.
    style : {"radio", "toggle"}
        ``RadioButtons`` (default, good for sentences) or ``ToggleButtons``
        (short labels).
    reveal : ipywidgets.Widget, optional
        Shown only once an answer has been checked (hidden before).

    Attributes
    ----------
    widget : the widget to display
    choice : the selector widget (its ``.value`` is the learner's pick)
    status : Status, one line for a missing or bad answer
    checked : str or None, the last option checked
    correct : bool or None, whether it was right
    attempts : int
    revealed : list of :class:`Revealed`, the blocks :meth:`after_check` made

    Examples
    --------
    >>> q = Prediction("2 + 2?", ["3", "4"], answer="4", feedback={"3": "Count again.", "4": "Yes."})
    >>> q.choice.value = "4"
    >>> q.check()
    True
    >>> q.checked, q.correct
    ('4', True)
    """

    def __init__(self, question, options, answer, feedback=None, style="radio", reveal=None):
        options = tuple(str(o) for o in options)
        if len(options) < 2 or len(set(options)) != len(options):
            raise ValueError(f"options must hold at least 2 distinct choices; got {list(options)}")
        if isinstance(answer, int) and not isinstance(answer, bool):
            if not 0 <= answer < len(options):
                raise ValueError(f"answer must be an index in [0, {len(options) - 1}]; got {answer}")
            answer = options[answer]
        if answer not in options:
            raise ValueError(f"answer must be one of {list(options)}; got {answer!r}")
        if feedback is None:
            feedback = {}
        elif not isinstance(feedback, dict):
            feedback = list(feedback)
            if len(feedback) != len(options):
                raise ValueError(f"feedback must give one text per option ({len(options)}); got {len(feedback)}")
            feedback = dict(zip(options, feedback))
        unknown = set(feedback) - set(options)
        if unknown:
            raise ValueError(f"feedback names options that do not exist: {sorted(unknown)}")
        if style not in ("radio", "toggle"):
            raise ValueError(f"style must be one of ['radio', 'toggle']; got {style!r}")

        self.question, self.options, self.answer = str(question), options, answer
        self.feedback = {o: feedback.get(o, "") for o in options}
        self.checked, self.correct, self.attempts = None, None, 0
        self.status = Status()
        self.revealed = []

        self.prompt = widgets.HTML(f"<b>Predict first.</b> {html.escape(self.question)}")
        if style == "toggle":
            self.choice = widgets.ToggleButtons(options=options, value=None)
        else:
            self.choice = widgets.RadioButtons(options=options, value=None,
                                               layout=widgets.Layout(width="max-content"))
        self.button = widgets.Button(description="Check", button_style="primary", icon="check",
                                     layout=widgets.Layout(width="8em"))
        self.result = widgets.HTML("")
        self.reveal = reveal
        if reveal is not None:
            reveal.layout.display = "none"
        self.button.on_click(lambda _button: self.check())
        self.choice.observe(lambda _change: self._on_pick(), names="value")
        parts = [self.prompt, self.choice, widgets.HBox([self.button, self.result]), self.status.widget]
        if reveal is not None:
            parts.append(reveal)
        self.widget = widgets.VBox(parts, layout=widgets.Layout(border="1px solid #cccccc", padding="0.5em 1em",
                                                                margin="0.5em 0"))
        self.widget.add_class("cl-prediction")
        self._guarded_check = self.status.guard(self._check)

    def check(self):
        """Check the current pick; return True/False, or None when nothing valid is picked."""
        if self.choice.value is None:
            self.status.show("Pick an answer first, then press Check.", kind="info")
            return None
        return self._guarded_check()

    def _on_pick(self):
        # a new pick hides the old verdict so feedback always matches the selection
        if self.checked is not None and self.choice.value != self.checked:
            self.result.value = ""

    def _check(self):
        value = read_control("answer", self.choice.value, None, None, choices=self.options)
        self.attempts += 1
        self.checked, self.correct = value, value == self.answer
        verdict = ("<span style='color:#009E73'><b>Right.</b></span>" if self.correct
                   else "<span style='color:#D55E00'><b>Not quite.</b></span>")
        text = self.feedback[value] or ("" if self.correct else "Look again at the picture, then try another answer.")
        self.result.value = f"{verdict} {html.escape(text)}"
        if self.reveal is not None:
            self.reveal.layout.display = None
        for block in self.revealed:
            block.show()
        return self.correct

    def after_check(self, *contents, waiting=WAITING):
        """A block shown further down the page only once this prediction has been checked.

        Parameters
        ----------
        *contents : ipywidgets.Widget, or a function of no argument returning text
            In order. A widget (an app that would answer the question) is hidden
            until then; a function is called at the first Check and its result (a
            :class:`~coupling_lab.lessons.text.Prose`, a ``Sentence`` or a plain
            string) shown as formatted text.
        waiting : str
            The line shown in the block's place until then.

        Returns
        -------
        Revealed, a widget: display it where the block belongs.
        """
        block = Revealed(contents, waiting=waiting)
        self.revealed.append(block)
        if self.checked is not None:  # already committed: show at once
            block.show()
        return block


class Revealed(widgets.VBox):
    """Widgets and text hidden until a :class:`Prediction` is checked (made by :meth:`Prediction.after_check`).

    Attributes
    ----------
    shown : bool
    parts : list of widgets, one per content (an ``HTML`` widget for a text, empty until shown)
    status : Status, one line if a text could not be computed
    """

    def __init__(self, contents, waiting=WAITING):
        if not contents:
            raise ValueError("contents must hold at least 1 widget or function; got 0")
        self._contents, self.parts = [], []
        for content in contents:
            if isinstance(content, widgets.Widget):
                part = content
            elif callable(content):
                part = widgets.HTML("")
            else:
                raise TypeError(f"contents must be widgets or functions; got {type(content).__name__}")
            part.layout.display = "none"
            self._contents.append(content)
            self.parts.append(part)
        self.shown = False
        self._texts = {}
        self.status = Status()
        self.waiting = widgets.HTML(f"<p class='cl-waiting' style='color:#555'><i>{html.escape(waiting)}</i></p>")
        super().__init__([self.waiting, self.status.widget, *self.parts])
        self.add_class("cl-revealed")
        self._guarded_show = self.status.guard(self._show)

    def show(self):
        """Compute the texts (the first time) and show every part; True once shown."""
        if not self.shown:
            self._guarded_show()
        return self.shown

    def _show(self):
        # every text first, then the switch: a text that fails leaves the whole block hidden
        texts = {i: _as_html(c()) for i, c in enumerate(self._contents) if not isinstance(c, widgets.Widget)}
        for i, part in enumerate(self.parts):
            if i in texts:
                self._texts[i] = texts[i]
                # a widget's HTML keeps the line height of one control row (28 px): prose reads at 1.5
                part.value = f"<div class='cl-revealed-text' style='line-height:1.5'>{texts[i]}</div>"
            part.layout.display = None
        self.waiting.layout.display = "none"
        self.shown = True

    @property
    def text(self):
        """The texts shown (HTML), joined; empty before the first Check."""
        return "".join(self._texts.get(i, "") for i, c in enumerate(self._contents) if not isinstance(c, widgets.Widget))


def _as_html(text):
    if hasattr(text, "_repr_html_"):
        return text._repr_html_()
    return f"<p>{html.escape(str(text))}</p>"
