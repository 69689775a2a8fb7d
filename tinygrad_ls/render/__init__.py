"""Pictures of computation graphs: ``draw_graph`` (Graphviz), ``to_mermaid`` (Mermaid text)
and ``save_graph`` (to .svg / .png / .pdf / .dot by file name); ``draw_plan`` draws what
``tl.compile`` recorded.

    import tinygrad_ls as tl
    loss = ...; loss.backward()
    tl.save_graph(tl.draw_graph(loss, module=model), 'loss.svg')

``graph.py`` chooses the nodes (an iterative walk, module clusters, collapsing, the node cap)
and nests them in clusters, ``labels.py`` says what each node says and its colours, ``dot.py``
and ``mermaid.py`` write the output, ``plan.py`` draws a compiled plan, and ``layout.py``
finds the program that renders DOT.
"""
from .. import lazy
from .dot import GraphDrawing, draw_graph, save_graph
from .layout import GraphvizNotFoundError, find_layout_program
from .mermaid import to_mermaid

__all__ = ['draw_graph', 'draw_plan', 'to_mermaid', 'save_graph', 'GraphDrawing', 'GraphvizNotFoundError',
           'find_layout_program']

# draw_plan imports the compiler (whose Plan it draws): imported when first used.
__getattr__, __dir__ = lazy.attributes(__name__, globals(), {'draw_plan': '.plan', 'plan': '.plan'})
